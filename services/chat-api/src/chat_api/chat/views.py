"""/v1/conversations: a user's conversations, and a streamed (SSE) answer to each new message."""

from __future__ import annotations

import uuid
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from chat_api.api.deps import CurrentUser, ServicesDep, SessionDep
from chat_api.chat import service
from chat_api.chat.access import parse_org_header
from chat_api.chat.answers import ChatInput
from chat_api.chat.idempotency import check_key
from chat_api.chat.pipeline import open_chat
from chat_api.chat.schemas import (
    ConversationCreate,
    ConversationDetail,
    ConversationRead,
    MessageCreate,
    MessageRead,
)
from chat_api.chat.sse import SSE_HEADERS, route_headers, turn_events
from chat_api.chat.turns import Turn, begin_turn, discard_turn
from chat_api.core.openapi import problems, sse_response
from chat_api.core.services import Services
from chat_api.limits.rate import ChatUser
from switchyard.router.v1 import router_pb2

# A chat answers the router's failures (docs/chat-api.md, Errors) before its stream starts.
conversations_routes = APIRouter(
    prefix="/v1/conversations", tags=["conversations"], responses=problems(400, 403, 404, 409, 422, 429, 502)
)

OrgHeader = Annotated[str | None, Header(alias="X-Switchyard-Org")]
IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key")]


@conversations_routes.post("", status_code=status.HTTP_201_CREATED)
def create_conversation(
    user: CurrentUser, db_session: SessionDep, body: ConversationCreate | None = None
) -> ConversationRead:
    title = body.title if body is not None else None
    conversation = service.create(db_session=db_session, user_id=user.id, title=title)
    return ConversationRead.model_validate(conversation)


@conversations_routes.get("")
def list_conversations(
    user: CurrentUser, db_session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[ConversationRead]:
    rows = service.list_conversations(db_session=db_session, user_id=user.id, limit=limit)
    return [ConversationRead.model_validate(row) for row in rows]


@conversations_routes.get("/{conversation_id}")
def read_conversation(
    conversation_id: uuid.UUID, user: CurrentUser, db_session: SessionDep
) -> ConversationDetail:
    conversation = service.get(db_session=db_session, user_id=user.id, conversation_id=conversation_id)
    messages = service.list_messages(db_session=db_session, conversation_id=conversation.id)
    return ConversationDetail(
        **ConversationRead.model_validate(conversation).model_dump(),
        messages=[MessageRead.model_validate(m) for m in messages],
    )


@conversations_routes.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_conversation(conversation_id: uuid.UUID, user: CurrentUser, db_session: SessionDep) -> Response:
    service.delete_conversation(db_session=db_session, user_id=user.id, conversation_id=conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _parameters(body: MessageCreate) -> router_pb2.Parameters:
    given = body.parameters
    if given is None:
        return router_pb2.Parameters()
    return router_pb2.Parameters(
        temperature=given.temperature,
        top_p=given.top_p,
        max_output_tokens=given.max_tokens,
        stop=given.stop or [],
        seed=given.seed,
    )


async def _discard(services: Services, turn: Turn) -> None:
    def run() -> None:
        with services.sessions() as db_session:
            discard_turn(db_session=db_session, turn=turn)

    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(run)


@conversations_routes.post(
    "/{conversation_id}/messages",
    response_class=StreamingResponse,
    responses=sse_response(
        "`route`, `delta`…, `usage` | `error`, `done` events", "route", "delta", "usage", "error", "done"
    ),
)
async def post_message(
    conversation_id: uuid.UUID,
    body: MessageCreate,
    user: ChatUser,
    db_session: SessionDep,
    services: ServicesDep,
    org: OrgHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Store the message, then stream the answer as `route`, `delta`…, `usage` | `error`, `done` events."""
    requested_org, key = parse_org_header(org), check_key(idempotency_key)
    quota = services.settings.platform_monthly_token_quota

    def begin() -> Turn | bytes:
        # The session ends here, so no pooled connection is held while the answer streams.
        try:
            return begin_turn(
                db_session=db_session,
                user_id=user.id,
                conversation_id=conversation_id,
                body=body,
                requested_org=requested_org,
                quota=quota,
                idempotency_key=key,
                unwritten=services.usage.unwritten_platform_tokens(user.id),
                settings=services.settings,
            )
        finally:
            db_session.close()

    begun = await anyio.to_thread.run_sync(begin)
    if isinstance(begun, bytes):
        headers = {**route_headers(begun), **SSE_HEADERS, "Idempotent-Replayed": "true"}
        return Response(begun, media_type="text/event-stream", headers=headers)
    chat = ChatInput(
        user_id=begun.user_id,
        org_id=begun.context.org_id,
        model=body.model,
        messages=begun.messages,
        parameters=_parameters(body),
        quota_exceeded=begun.context.quota_exceeded,
    )
    try:
        stream = await open_chat(services=services, chat=chat)
    except BaseException:
        await _discard(services, begun)
        raise
    return StreamingResponse(
        turn_events(stream, begun),
        media_type="text/event-stream",
        headers={**stream.route.headers(), **SSE_HEADERS},
    )
