"""The router's request (keys, policies, messages) built from a lease, and its enums read back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from chat_api.credentials.leases import CredentialLease, LeasedCredential, PolicyRow
from switchyard.router.v1 import router_pb2
from switchyard_common.bindings import binding_message
from switchyard_common.chat_vocabulary import FINISH_REASONS
from switchyard_common.envelope import Binding, OwnerType
from switchyard_common.providers import PROVIDERS

if TYPE_CHECKING:
    from chat_api.chat.answers import ChatInput

__all__ = ["build_request", "finish_reason", "policies", "provider_of"]

# OpenAI's finish_reason has no "other".
_OPENAI_FINISH_REASONS = frozenset({"stop", "length", "content_filter"})


def provider_of(model: str) -> str | None:
    """The provider a "provider/model" id names; None for "auto", which may pick any."""
    if model == "auto" or "/" not in model:
        return None
    return model.split("/", 1)[0]


def finish_reason(value: router_pb2.FinishReason) -> str:
    """OpenAI's finish_reason vocabulary; anything unusual reads as a plain stop."""
    reason = FINISH_REASONS.get(value, "stop")
    return reason if reason in _OPENAI_FINISH_REASONS else "stop"


def _credential(row: LeasedCredential) -> router_pb2.Credential:
    binding = Binding(str(row.id), OwnerType(row.owner_type), str(row.owner_id), row.provider)
    message = router_pb2.Credential(
        binding=binding_message(binding),
        envelope=row.envelope,
        fallback_to_platform=row.fallback_to_platform,
    )
    if row.expires_at is not None:
        message.expires_at.FromDatetime(row.expires_at)
    return message


def policies(rows: Iterable[PolicyRow], *, forbid_platform: bool) -> list[router_pb2.ProviderPolicy]:
    """The org's policies, with platform access barred for every provider once the quota is spent."""
    merged = {
        row.provider: router_pb2.ProviderPolicy(
            provider=row.provider, require_org_key=row.require_org_key, forbid_platform=row.forbid_platform
        )
        for row in rows
    }
    if forbid_platform:
        for provider in PROVIDERS:
            merged.setdefault(provider, router_pb2.ProviderPolicy(provider=provider)).forbid_platform = True
    return list(merged.values())


def build_request(chat: ChatInput, lease: CredentialLease, *, request_id: str) -> router_pb2.ChatRequest:
    """The router's ChatRequest for this chat and the keys and policies leased for it."""
    return router_pb2.ChatRequest(
        request_id=request_id,
        user_id=str(chat.user_id),
        org_id=str(chat.org_id) if chat.org_id else "",
        model=chat.model,
        messages=list(chat.messages),
        parameters=chat.parameters,
        credentials=[_credential(row) for row in lease.credentials],
        policies=policies(lease.policies, forbid_platform=chat.quota_exceeded),
    )
