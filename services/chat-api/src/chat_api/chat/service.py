"""Conversations: create, list, read and delete a user's own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chat_api.chat.models import Conversation, Message
from chat_api.core.columns import utcnow
from chat_api.core.problems import NotFound

__all__ = ["create", "delete_conversation", "get", "list_conversations", "list_messages"]

DEFAULT_TITLE = "New conversation"


def create(*, db_session: Session, user_id: uuid.UUID, title: str | None) -> Conversation:
    """A new empty conversation (committed)."""
    now = utcnow()
    conversation = Conversation(user_id=user_id, title=title or DEFAULT_TITLE, created_at=now, updated_at=now)
    db_session.add(conversation)
    db_session.commit()
    return conversation


def list_conversations(*, db_session: Session, user_id: uuid.UUID, limit: int) -> Sequence[Conversation]:
    """The user's conversations, newest first."""
    return db_session.scalars(
        select(Conversation)
        .where(Conversation.user_id == user_id)
        .order_by(Conversation.created_at.desc(), Conversation.id)
        .limit(limit)
    ).all()


def get(*, db_session: Session, user_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
    """The user's conversation; NotFound for a missing one and for another user's alike."""
    conversation = db_session.scalar(
        select(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
    )
    if conversation is None:
        raise NotFound("no such conversation")
    return conversation


def list_messages(*, db_session: Session, conversation_id: uuid.UUID) -> Sequence[Message]:
    """A conversation's messages, oldest first."""
    return db_session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at, Message.id)
    ).all()


def delete_conversation(*, db_session: Session, user_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
    """Delete the user's conversation and its messages (committed)."""
    result = db_session.execute(
        delete(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("no such conversation")
    db_session.commit()
