"""/v1/chat/completions and /v1/models, compatible with OpenAI's API and its official SDKs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse, StreamingResponse

from chat_api.api.deps import CurrentUser, ServicesDep
from chat_api.chat.access import parse_org_header
from chat_api.chat.pipeline import ChatAsk, open_chat_for
from chat_api.chat.sse import SSE_HEADERS
from chat_api.core.openapi import openai_errors, sse_event_schema
from chat_api.core.problems import RouterUnavailable as RouterUnavailableProblem
from chat_api.limits.chat_size import check_chat_size
from chat_api.limits.rate import ChatCaller
from chat_api.openai.errors import OpenAIRoute, error_response
from chat_api.openai.schemas import ChatCompletionRequest, router_messages, router_parameters
from chat_api.openai.stream import Identity, completion_body, completion_chunks
from chat_api.upstream.router_client import RouterUnavailable

openai_routes = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)

OrgHeader = Annotated[str | None, Header(alias="X-Switchyard-Org")]
# OpenAI's `created` for catalog models: the catalog has no dates, so one fixed, plausible time.
CATALOG_CREATED = 1_764_201_600


_COMPLETION_RESPONSES = {
    200: {
        "description": "a `chat.completion`, or `chat.completion.chunk` events when `stream` is true",
        "content": {"application/json": {}, "text/event-stream": {"schema": sse_event_schema()}},
    },
    **openai_errors(403, 404, 409, 422, 429, 502),
}


@openai_routes.post("/chat/completions", responses=_COMPLETION_RESPONSES)
async def chat_completions(
    body: ChatCompletionRequest,
    caller: ChatCaller,
    services: ServicesDep,
    org: OrgHeader = None,
) -> Response:
    """A chat completion, streamed as `chat.completion.chunk` events when `stream` is true."""
    messages, parameters = router_messages(body), router_parameters(body)
    check_chat_size(messages, services.settings)
    ask = ChatAsk(
        user_id=caller.user_id,
        requested_org=parse_org_header(org),
        model=body.model,
        messages=messages,
        parameters=parameters,
    )
    stream = await open_chat_for(services=services, ask=ask)
    identity, headers = Identity(), stream.route.headers()
    if body.stream:
        chunks = completion_chunks(stream, identity, include_usage=body.include_usage)
        return StreamingResponse(chunks, media_type="text/event-stream", headers={**headers, **SSE_HEADERS})
    try:
        async for _ in stream.items():
            pass
    finally:
        await stream.close()
    if stream.failed is not None:
        return error_response(stream.failed, headers)
    return JSONResponse(completion_body(stream, identity), headers=headers)


@openai_routes.get("/models")
async def list_models(user: CurrentUser, services: ServicesDep) -> dict[str, object]:
    """ "auto" first, then every catalog model, with Switchyard's extra fields beside OpenAI's.

    `platform_access` says whether the platform has its own key for the model's provider; `demo`
    that the provider is `make dev`'s local demo provider, not the real one.
    """
    try:
        catalog = await services.router.models()
    except RouterUnavailable:
        raise RouterUnavailableProblem(
            "the model catalog is unavailable right now; try again shortly"
        ) from None
    auto = {
        "id": "auto",
        "object": "model",
        "created": CATALOG_CREATED,
        "owned_by": "switchyard",
        "display_name": "Auto (Switchyard picks a model you can reach)",
    }
    models = [
        {
            "id": model.id,
            "object": "model",
            "created": CATALOG_CREATED,
            "owned_by": model.provider,
            "display_name": model.display_name,
            "context_window": model.context_window,
            "max_output_tokens": model.max_output_tokens,
            "input_price_per_mtok": model.input_price_per_mtok,
            "output_price_per_mtok": model.output_price_per_mtok,
            "capabilities": list(model.capabilities),
            # Whether the platform's own key can serve this provider: what a caller without a key of
            # their own gets (before org policy and the monthly quota), e.g. the web app's key page.
            "platform_access": model.platform_access,
            "demo": model.demo,
        }
        for model in catalog
    ]
    return {"object": "list", "data": [auto, *models]}
