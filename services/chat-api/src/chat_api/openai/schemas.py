"""OpenAI's chat completion request, turned into the router's messages and parameters.

Unknown fields are ignored, as OpenAI-compatible servers commonly do, so SDK upgrades keep working.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from chat_api.core.problems import BadRequest
from switchyard.router.v1 import router_pb2
from switchyard_common.chat_vocabulary import ROLE_MESSAGES

__all__ = ["ChatCompletionRequest", "router_messages", "router_parameters"]

# OpenAI's newer name for the system role.
_ROLES = {**ROLE_MESSAGES, "developer": router_pb2.ROLE_SYSTEM}


UINT32_MAX = 2**32 - 1


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Lenient):
    type: Literal["text"]
    text: str


class RefusalPart(_Lenient):
    type: Literal["refusal"]
    refusal: str


class ImageUrl(_Lenient):
    url: Annotated[str, Field(min_length=1)]
    detail: str | None = None


class ImagePart(_Lenient):
    type: Literal["image_url"]
    image_url: ImageUrl


Part = Annotated[TextPart | RefusalPart | ImagePart, Field(discriminator="type")]


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[Part] | None = None
    name: str | None = None


class StreamOptions(_Lenient):
    include_usage: bool = False


class ChatCompletionRequest(_Lenient):
    model: Annotated[str, Field(min_length=1, max_length=120)]
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    # The router's Parameters carry these as uint32 and int64: larger numbers were a 500.
    max_tokens: Annotated[StrictInt, Field(ge=1, le=UINT32_MAX)] | None = None
    max_completion_tokens: Annotated[StrictInt, Field(ge=1, le=UINT32_MAX)] | None = None
    stop: str | Annotated[list[str], Field(max_length=8)] | None = None
    seed: Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)] | None = None
    n: int | None = None
    user: str | None = None

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


def _image(url: str) -> router_pb2.ImagePart:
    if not url.startswith("data:"):
        return router_pb2.ImagePart(url=url)
    header, _, payload = url.partition(",")
    media_type, _, encoding = header.removeprefix("data:").partition(";")
    if encoding != "base64" or not payload:
        raise BadRequest("an inline image must be a base64 data URL (data:image/png;base64,...)")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise BadRequest("an inline image's base64 data is malformed") from None
    return router_pb2.ImagePart(data=data, media_type=media_type)


def _part(part: TextPart | RefusalPart | ImagePart) -> router_pb2.ContentPart:
    if isinstance(part, ImagePart):
        return router_pb2.ContentPart(image=_image(part.image_url.url))
    return router_pb2.ContentPart(text=part.text if isinstance(part, TextPart) else part.refusal)


def router_messages(request: ChatCompletionRequest) -> list[router_pb2.Message]:
    """The conversation as the router takes it; empty assistant turns (tool calls) are left out."""
    messages = []
    for message in request.messages:
        if isinstance(message.content, str):
            parts = [router_pb2.ContentPart(text=message.content)] if message.content else []
        else:
            parts = [_part(part) for part in message.content or []]
        if not parts:
            if message.role == "assistant":
                continue
            raise BadRequest(f"a {message.role} message needs content")
        messages.append(router_pb2.Message(role=_ROLES[message.role], parts=parts))
    return messages


def router_parameters(request: ChatCompletionRequest) -> router_pb2.Parameters:
    """Sampling parameters; `n` other than 1 is refused, since one answer is all a route gives."""
    if request.n is not None and request.n != 1:
        raise BadRequest("only n=1 is supported")
    stop = [request.stop] if isinstance(request.stop, str) else request.stop or []
    return router_pb2.Parameters(
        temperature=request.temperature,
        top_p=request.top_p,
        max_output_tokens=request.max_completion_tokens or request.max_tokens,
        stop=stop,
        seed=request.seed,
    )
