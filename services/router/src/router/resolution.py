"""Which access serves a request to a provider: the user's key, the org's key, or platform access.

Order: user key → org key → platform access → "no access". An org policy can require the org's
key (then neither a personal key nor platform access is used) or forbid platform access. Expired
credentials are never used. Nothing here silently swaps a user's key for platform access:
fallback after a failure is a separate, explicit decision (`may_fall_back`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from switchyard_common.envelope import Binding, OwnerType

__all__ = [
    "Access",
    "Candidate",
    "NoAccess",
    "Policy",
    "may_fall_back",
    "reachable_providers",
    "resolve_access",
]

Source = Literal["user", "org", "platform"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored credential the caller may use (from chat-api); the envelope opens only in keyvault."""

    binding: Binding
    envelope: bytes
    expires_at: datetime | None = None
    fallback_to_platform: bool = False

    @property
    def credential_id(self) -> str:
        return self.binding.credential_id

    @property
    def provider(self) -> str:
        return self.binding.provider

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def __repr__(self) -> str:  # the envelope is not secret, but it is noise in logs
        return f"Candidate({self.credential_id!r}, {self.binding.owner_type}, {self.provider})"


@dataclass(frozen=True, slots=True)
class Policy:
    require_org_key: bool = False
    forbid_platform: bool = False


@dataclass(frozen=True, slots=True)
class Access:
    source: Source
    credential: Candidate | None = None


class NoAccess(Exception):
    def __init__(self, provider: str, message: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message


def resolve_access(
    provider: str,
    display_name: str,
    *,
    candidates: Iterable[Candidate],
    policies: Mapping[str, Policy],
    platform_providers: Collection[str],
    now: datetime,
) -> Access:
    policy = policies.get(provider, Policy())
    usable = [c for c in candidates if c.provider == provider and not c.expired(now)]
    user_key = next((c for c in usable if c.binding.owner_type is OwnerType.USER), None)
    org_key = next((c for c in usable if c.binding.owner_type is OwnerType.ORG), None)
    if policy.require_org_key:
        if org_key is None:
            raise NoAccess(
                provider, f"your organization requires its own {display_name} key, and none is set"
            )
        return Access("org", org_key)
    if user_key is not None:
        return Access("user", user_key)
    if org_key is not None:
        return Access("org", org_key)
    if provider in platform_providers and not policy.forbid_platform:
        return Access("platform")
    raise NoAccess(provider, f"no access to {display_name}: add your own {display_name} key in Settings")


def may_fall_back(
    access: Access, *, policies: Mapping[str, Policy], platform_providers: Collection[str]
) -> bool:
    """After a 429 or provider outage on the caller's key: only with the credential's opt-in,
    platform access for the provider, and a policy that allows it."""
    if access.credential is None or not access.credential.fallback_to_platform:
        return False
    provider = access.credential.provider
    policy = policies.get(provider, Policy())
    return provider in platform_providers and not policy.forbid_platform and not policy.require_org_key


def reachable_providers(
    providers: Mapping[str, str],
    *,
    candidates: Collection[Candidate],
    policies: Mapping[str, Policy],
    platform_providers: Collection[str],
    now: datetime,
) -> set[str]:
    """Providers (name → display name) this caller can reach at all."""
    reachable = set()
    for provider, display_name in providers.items():
        try:
            resolve_access(
                provider,
                display_name,
                candidates=candidates,
                policies=policies,
                platform_providers=platform_providers,
                now=now,
            )
        except NoAccess:
            continue
        reachable.add(provider)
    return reachable
