"""One exchange in a conversation: the user's message stored before the call, the answer after it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from chat_api.chat import idempotency, service
from chat_api.chat.access import ChatContext, resolve_context
from chat_api.chat.models import Conversation, Message
from chat_api.chat.pipeline import ChatStream
from chat_api.chat.schemas import MessageCreate
from chat_api.core.columns import utcnow
from chat_api.core.config import Settings
from chat_api.limits.chat_size import check_chat_size
from switchyard.router.v1 import router_pb2
from switchyard_common.chat_vocabulary import ROLE_MESSAGES

__all__ = ["Turn", "begin_turn", "discard_turn", "history", "store_reply"]


@dataclass(frozen=True, slots=True)
class Turn:
    user_id: uuid.UUID
    conversation_id: uuid.UUID
    user_message_id: uuid.UUID
    # Chosen up front, so the `done` event (and the replay stored with it) can name it.
    assistant_message_id: uuid.UUID
    idempotency_key: str | None
    context: ChatContext
    messages: tuple[router_pb2.Message, ...]


def history(messages: Sequence[Message]) -> tuple[router_pb2.Message, ...]:
    """The conversation as the router takes it; answers that broke off before any text are left out."""
    return tuple(
        router_pb2.Message(role=ROLE_MESSAGES[m.role], parts=[router_pb2.ContentPart(text=m.content)])
        for m in messages
        if m.content
    )


def begin_turn(
    *,
    db_session: Session,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    body: MessageCreate,
    requested_org: uuid.UUID | None,
    quota: int,
    idempotency_key: str | None,
    settings: Settings,
    unwritten: int = 0,
) -> Turn | bytes:
    """Store (and commit) the user's message and return the turn; bytes to replay for a completed retry."""
    conversation = service.get(db_session=db_session, user_id=user_id, conversation_id=conversation_id)
    context = resolve_context(
        db_session=db_session,
        user_id=user_id,
        requested_org=requested_org,
        quota=quota,
        unwritten=unwritten,
    )
    if idempotency_key is not None:
        digest = idempotency.request_hash(
            {"conversation": str(conversation_id), "org": str(requested_org), **body.model_dump()}
        )
        replay = idempotency.claim(db_session=db_session, user_id=user_id, key=idempotency_key, digest=digest)
        if replay is not None:
            return replay
    now = utcnow()
    message = Message(
        id=uuid.uuid4(), conversation_id=conversation.id, role="user", content=body.content, created_at=now
    )
    db_session.add(message)
    conversation.updated_at = now
    db_session.flush()
    messages = history(service.list_messages(db_session=db_session, conversation_id=conversation.id))
    check_chat_size(messages, settings)  # raised before the commit: nothing of the turn is kept
    db_session.commit()
    return Turn(
        user_id=user_id,
        conversation_id=conversation.id,
        user_message_id=message.id,
        assistant_message_id=uuid.uuid4(),
        idempotency_key=idempotency_key,
        context=context,
        messages=messages,
    )


def discard_turn(*, db_session: Session, turn: Turn) -> None:
    """Undo a turn that failed before any provider answered, so a retry starts clean (committed)."""
    db_session.execute(delete(Message).where(Message.id == turn.user_message_id))
    if turn.idempotency_key is not None:
        idempotency.forget(db_session=db_session, user_id=turn.user_id, key=turn.idempotency_key)
    db_session.commit()


def store_reply(*, db_session: Session, turn: Turn, stream: ChatStream, replay: bytes | None) -> None:
    """Store the answer as far as it arrived, and the replay when it completed (no commit)."""
    if db_session.get(Conversation, turn.conversation_id) is None:
        return  # deleted while it was answering; the usage row is still recorded
    finished = stream.finished
    db_session.add(
        Message(
            id=turn.assistant_message_id,
            conversation_id=turn.conversation_id,
            role="assistant",
            content=stream.text,
            model=stream.route.model,
            provider=stream.route.provider,
            key_source=stream.route.key_source,
            error_type=stream.error_type,
            input_tokens=finished.input_tokens if finished else None,
            output_tokens=finished.output_tokens if finished else None,
            created_at=utcnow(),
        )
    )
    db_session.execute(
        update(Conversation).where(Conversation.id == turn.conversation_id).values(updated_at=utcnow())
    )
    if turn.idempotency_key is None:
        return
    if replay is not None:
        idempotency.complete(
            db_session=db_session, user_id=turn.user_id, key=turn.idempotency_key, response=replay
        )
    else:
        idempotency.forget(db_session=db_session, user_id=turn.user_id, key=turn.idempotency_key)
