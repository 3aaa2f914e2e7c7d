"""Every table, imported in one place so `Base.metadata` is complete (Alembic, tests)."""

from __future__ import annotations

from chat_api.accounts.models import AccessToken, User
from chat_api.chat.models import Conversation, IdempotencyRecord, Message
from chat_api.core.db import Base
from chat_api.credentials.models import Credential
from chat_api.orgs.models import Org, OrgMember, OrgPolicy
from chat_api.outbox.models import OutboxEvent
from chat_api.usage.models import QuotaCounter, UsageRecord

__all__ = [
    "AccessToken",
    "Base",
    "Conversation",
    "Credential",
    "IdempotencyRecord",
    "Message",
    "Org",
    "OrgMember",
    "OrgPolicy",
    "OutboxEvent",
    "QuotaCounter",
    "UsageRecord",
    "User",
]
