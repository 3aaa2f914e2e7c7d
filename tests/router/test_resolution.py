"""Key resolution: user → org → platform → none, with policies, expiry and explicit fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from router.resolution import (
    Access,
    Candidate,
    NoAccess,
    Policy,
    may_fall_back,
    reachable_providers,
    resolve_access,
)
from switchyard_common.envelope import Binding, OwnerType

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PLATFORM = {"openai", "anthropic"}


def key(
    scope: str, provider: str = "openai", *, expires_in: float | None = None, fallback: bool = False
) -> Candidate:
    return Candidate(
        binding=Binding(f"{scope}-{provider}", OwnerType(scope), f"{scope}-owner", provider),
        envelope=b"envelope",
        expires_at=None if expires_in is None else NOW + timedelta(seconds=expires_in),
        fallback_to_platform=fallback,
    )


def resolve(provider: str, candidates: list[Candidate], policies: dict[str, Policy] | None = None) -> Access:
    return resolve_access(
        provider,
        provider.title(),
        candidates=candidates,
        policies=policies or {},
        platform_providers=PLATFORM,
        now=NOW,
    )


@pytest.mark.parametrize(
    ("provider", "candidates", "policies", "expected"),
    [
        ("openai", [key("user"), key("org")], {}, ("user", "user-openai")),
        ("openai", [key("org")], {}, ("org", "org-openai")),
        ("openai", [], {}, ("platform", None)),
        ("openai", [key("user", "anthropic")], {}, ("platform", None)),  # another provider's key
        ("openai", [key("user", expires_in=-1), key("org")], {}, ("org", "org-openai")),  # expired
        ("openai", [key("user", expires_in=0)], {}, ("platform", None)),  # expires exactly now
        ("openai", [key("user", expires_in=60)], {}, ("user", "user-openai")),
        (
            "openai",
            [key("user"), key("org")],
            {"openai": Policy(require_org_key=True)},
            ("org", "org-openai"),
        ),
        ("openai", [key("user")], {"openai": Policy(forbid_platform=True)}, ("user", "user-openai")),
        ("openai", [key("user")], {"anthropic": Policy(require_org_key=True)}, ("user", "user-openai")),
        ("mistral", [key("user", "mistral")], {}, ("user", "user-mistral")),  # BYOK-only provider
    ],
)
def test_resolution_order(
    provider: str, candidates: list[Candidate], policies: dict[str, Policy], expected: tuple[str, str | None]
) -> None:
    access = resolve(provider, candidates, policies)
    assert (access.source, access.credential.credential_id if access.credential else None) == expected


@pytest.mark.parametrize(
    ("provider", "candidates", "policies", "message"),
    [
        ("mistral", [], {}, "no access to Mistral"),  # no key, no platform access
        ("mistral", [key("user", "mistral", expires_in=-5)], {}, "no access to Mistral"),
        ("openai", [], {"openai": Policy(forbid_platform=True)}, "no access to Openai"),
        ("openai", [key("user")], {"openai": Policy(require_org_key=True)}, "requires its own Openai key"),
        ("openai", [], {"openai": Policy(require_org_key=True)}, "requires its own Openai key"),
    ],
)
def test_no_access(
    provider: str, candidates: list[Candidate], policies: dict[str, Policy], message: str
) -> None:
    with pytest.raises(NoAccess) as info:
        resolve(provider, candidates, policies)
    assert message in info.value.message
    assert info.value.provider == provider


@pytest.mark.parametrize(
    ("access", "policies", "allowed"),
    [
        (Access("user", key("user", fallback=True)), {}, True),
        (Access("user", key("user", fallback=False)), {}, False),  # no opt-in: never silently
        (Access("org", key("org", fallback=True)), {}, True),
        (Access("user", key("user", "mistral", fallback=True)), {}, False),  # no platform access
        (Access("user", key("user", fallback=True)), {"openai": Policy(forbid_platform=True)}, False),
        (Access("org", key("org", fallback=True)), {"openai": Policy(require_org_key=True)}, False),
        (Access("platform"), {}, False),
    ],
)
def test_fallback_needs_opt_in_platform_access_and_policy(
    access: Access, policies: dict[str, Policy], allowed: bool
) -> None:
    assert may_fall_back(access, policies=policies, platform_providers=PLATFORM) is allowed


def test_reachable_providers_combines_keys_platform_and_policy() -> None:
    providers = {"openai": "OpenAI", "anthropic": "Anthropic", "mistral": "Mistral", "groq": "Groq"}
    reachable = reachable_providers(
        providers,
        candidates=[key("user", "mistral"), key("user", "groq", expires_in=-1)],
        policies={"anthropic": Policy(forbid_platform=True)},
        platform_providers=PLATFORM,
        now=NOW,
    )
    assert reachable == {"openai", "mistral"}
