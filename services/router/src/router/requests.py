"""gRPC request messages → domain values, with the limits a request must respect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from router.providers.base import ChatMessage, GenerationParams, ImageInput
from router.resolution import Candidate, Policy
from switchyard.router.v1 import router_pb2
from switchyard_common.bindings import binding_from_message
from switchyard_common.chat_vocabulary import ROLES

__all__ = ["ChatJob", "InvalidRequest", "parse_chat_request"]

MAX_MESSAGES = 1_000
MAX_PARTS_PER_MESSAGE = 100
MAX_IMAGE_BYTES = 20 << 20
MAX_STOP_SEQUENCES = 8


class InvalidRequest(Exception):
    """The request itself is malformed; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class ChatJob:
    request_id: str
    user_id: str
    org_id: str
    model: str
    messages: tuple[ChatMessage, ...]
    params: GenerationParams
    candidates: tuple[Candidate, ...]
    policies: dict[str, Policy]


def _part(part: router_pb2.ContentPart) -> str | ImageInput:
    if part.HasField("image"):
        image = part.image
        if image.url:
            if not image.url.startswith("https://"):
                raise InvalidRequest("image urls must be https")
            return ImageInput(url=image.url, media_type=image.media_type)
        if not image.data or not image.media_type.startswith("image/"):
            raise InvalidRequest("an inline image needs data and an image/* media type")
        if len(image.data) > MAX_IMAGE_BYTES:
            raise InvalidRequest(f"an image may be at most {MAX_IMAGE_BYTES >> 20} MiB")
        return ImageInput(data=image.data, media_type=image.media_type)
    return part.text


def _message(message: router_pb2.Message) -> ChatMessage:
    role = ROLES.get(message.role)
    if role is None:
        raise InvalidRequest("every message needs a role: system, user or assistant")
    if not 0 < len(message.parts) <= MAX_PARTS_PER_MESSAGE:
        raise InvalidRequest(f"a message needs 1..{MAX_PARTS_PER_MESSAGE} parts")
    parts = tuple(_part(part) for part in message.parts)
    if role != "user" and any(isinstance(part, ImageInput) for part in parts):
        raise InvalidRequest("only user messages may carry images")
    return ChatMessage(role=role, parts=parts)  # type: ignore[arg-type]


def _params(params: router_pb2.Parameters) -> GenerationParams:
    if len(params.stop) > MAX_STOP_SEQUENCES:
        raise InvalidRequest(f"at most {MAX_STOP_SEQUENCES} stop sequences")
    temperature = params.temperature if params.HasField("temperature") else None
    top_p = params.top_p if params.HasField("top_p") else None
    if temperature is not None and not 0 <= temperature <= 2:
        raise InvalidRequest("temperature must be between 0 and 2")
    if top_p is not None and not 0 <= top_p <= 1:
        raise InvalidRequest("top_p must be between 0 and 1")
    return GenerationParams(
        temperature=temperature,
        top_p=top_p,
        max_output_tokens=params.max_output_tokens if params.HasField("max_output_tokens") else None,
        stop=tuple(params.stop),
        seed=params.seed if params.HasField("seed") else None,
    )


def _candidate(credential: router_pb2.Credential) -> Candidate:
    try:
        binding = binding_from_message(credential.binding)
    except ValueError as exc:  # the message names the field, never a value
        raise InvalidRequest(f"every credential needs a complete binding: {exc}") from None
    if not credential.envelope:
        raise InvalidRequest("every credential needs an envelope")
    expires_at = credential.expires_at.ToDatetime(tzinfo=UTC) if credential.HasField("expires_at") else None
    return Candidate(
        binding=binding,
        envelope=credential.envelope,
        expires_at=expires_at,
        fallback_to_platform=credential.fallback_to_platform,
    )


def parse_chat_request(request: router_pb2.ChatRequest) -> ChatJob:
    if not request.user_id:
        raise InvalidRequest("user_id is required")
    if not request.model:
        raise InvalidRequest('model is required: a catalog id such as "openai/gpt-4o-mini", or "auto"')
    if not 0 < len(request.messages) <= MAX_MESSAGES:
        raise InvalidRequest(f"a chat needs 1..{MAX_MESSAGES} messages")
    messages = tuple(_message(m) for m in request.messages)
    if messages[-1].role != "user":
        raise InvalidRequest("the last message must be the user's")
    return ChatJob(
        request_id=request.request_id,
        user_id=request.user_id,
        org_id=request.org_id,
        model=request.model,
        messages=messages,
        params=_params(request.parameters),
        candidates=tuple(_candidate(c) for c in request.credentials),
        policies={
            p.provider: Policy(require_org_key=p.require_org_key, forbid_platform=p.forbid_platform)
            for p in request.policies
        },
    )


def now() -> datetime:
    return datetime.now(UTC)
