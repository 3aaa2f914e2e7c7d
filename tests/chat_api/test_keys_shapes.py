"""Each provider's key shape: real-world keys pass, mistyped or misplaced ones are refused with a
422 that never repeats the key."""

from __future__ import annotations

import pytest

from chat_api.credentials.key_shapes import KeyShapeError, hint, normalize_key
from switchyard_common.providers import PROVIDERS
from tests.support.chat_api import VALID_KEYS, ChatApiStack, provider_key
from tests.support.credentials import VALIDATION, table_dump

HEX64 = "0123456789abcdef" * 4
BODY = "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9b1D3f5H7k"  # 36 letters and digits

VALID: dict[str, list[str]] = {
    "openai": [
        "sk-" + "A" * 48,  # a legacy user key
        "sk-proj-" + BODY + "_-" + BODY,
        "sk-svcacct-" + BODY,
        "sk-admin-" + BODY,
    ],
    "anthropic": ["sk-ant-api03-" + BODY + "-" + BODY + "AA", "sk-ant-admin01-" + BODY],
    "google": ["AIza" + BODY[:33] + "-_"],
    "mistral": [BODY[:32], "A" * 32],
    "groq": ["gsk_" + BODY + BODY[:16]],
    "deepseek": ["sk-" + HEX64[:32], "sk-" + BODY],
    "xai": ["xai-" + BODY + BODY + BODY[:8]],
    "together": [HEX64, HEX64.upper(), "tgp_v1_" + BODY + "_" + BODY],
    "openrouter": ["sk-or-v1-" + HEX64, "sk-or-v1-" + BODY],
}


# Refused for every provider: empty, whitespace only, a line break, a space, a tab or a control
# character inside, a quote, non-ASCII, absurdly long.
def _broken(key: str) -> list[str]:
    middle = len(key) // 2
    return [
        "",
        "   ",
        key[:middle] + "\n" + key[middle:],
        key[:middle] + " " + key[middle:],
        key[:middle] + "\t" + key[middle:],
        key[:middle] + "\x00" + key[middle:],
        key[:middle] + "\x1b" + key[middle:],
        f'"{key}"',
        key[:-1] + "é",
        key + "A" * 400,
    ]


INVALID: dict[str, list[str]] = {
    "openai": ["sk-short", "pk-" + BODY, "sk-ant-api03-" + BODY, "sk-or-v1-" + HEX64, "SK-" + BODY],
    "anthropic": ["sk-" + BODY, "sk-ant-short", "ant-" + BODY, "sk-ant-" + BODY + "!"],
    "google": [
        "AIza" + BODY[:34],
        "AIza" + BODY,
        "aiza" + BODY[:35],
        "AIzb" + BODY[:35],
        "AIza" + BODY[:34] + ".",
    ],
    "mistral": [BODY[:31], BODY[:33], BODY[:31] + "-", "sk-" + BODY[:29]],
    "groq": ["gsk_short", "gsk-" + BODY, "sk-" + BODY, "gsk_" + BODY + "-"],
    "deepseek": ["sk-short", "sk-proj-" + BODY, "ds-" + BODY, "sk-" + BODY + "_"],
    "xai": ["xai-short", "xai_" + BODY, "grok-" + BODY, "xai-" + BODY + "-"],
    "together": [HEX64[:63], HEX64 + "0", HEX64[:63] + "g", "tgp_v1_short", "tgp_v2_" + BODY],
    "openrouter": ["sk-or-" + HEX64, "sk-or-v1-short", "sk-" + HEX64, "sk-or-v1-" + HEX64 + "_"],
}


def test_the_tables_cover_every_provider() -> None:
    assert set(VALID) == set(INVALID) == set(VALID_KEYS) == set(PROVIDERS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_real_world_keys_pass(provider: str) -> None:
    for key in [*VALID[provider], provider_key(provider), provider_key(provider)]:
        assert normalize_key(provider, key) == key
        assert normalize_key(provider, f" \t{key}\r\n") == key  # surrounding whitespace is pasted noise


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mistyped_and_misplaced_keys_are_refused(provider: str) -> None:
    for key in [*INVALID[provider], *_broken(provider_key(provider))]:
        with pytest.raises(KeyShapeError) as raised:
            normalize_key(provider, key)
        assert key.strip() not in str(raised.value) or not key.strip()


def test_keys_of_one_provider_do_not_pass_as_another_with_a_distinct_prefix() -> None:
    prefixed = ("anthropic", "google", "groq", "xai", "openrouter")
    for provider in prefixed:
        for other in PROVIDERS:
            if other != provider and other not in ("openai",):
                with pytest.raises(KeyShapeError):
                    normalize_key(other, provider_key(provider))


@pytest.mark.parametrize(
    ("provider", "key", "expected"),
    [
        ("openai", "sk-proj-" + BODY, "sk-proj-…" + BODY[-4:]),
        ("openai", "sk-" + "A" * 44 + "a1b2", "sk-…a1b2"),
        ("anthropic", "sk-ant-api03-" + BODY, "sk-ant-…" + BODY[-4:]),
        ("google", "AIza" + BODY[:35], "AIza…" + BODY[31:35]),
        ("mistral", BODY[:32], "…" + BODY[28:32]),
        ("together", HEX64, "…cdef"),
        ("together", "tgp_v1_" + BODY, "tgp_v1_…" + BODY[-4:]),
        ("openrouter", "sk-or-v1-" + HEX64, "sk-or-v1-…cdef"),
    ],
)
def test_hint_shows_the_known_prefix_and_the_last_four(provider: str, key: str, expected: str) -> None:
    assert hint(provider, key) == expected


async def test_the_api_refuses_every_invalid_key_without_echoing_it(stack: ChatApiStack) -> None:
    user = await stack.register()
    for provider in PROVIDERS:
        for key in [*INVALID[provider], *_broken(provider_key(provider))]:
            response = await stack.http.post(
                "/v1/keys", json={"provider": provider, "api_key": key}, headers=user.headers
            )
            assert response.status_code == 422, (provider, key)
            body = response.json()
            assert body["type"] == VALIDATION
            assert body["errors"][0]["loc"] == ["body", "api_key"]
            if len(key.strip()) >= 16:
                assert key.strip() not in response.text
                assert key.strip()[4:-4] not in response.text
    assert table_dump(stack, "credentials") == ""


async def test_the_api_accepts_every_real_world_shape(stack: ChatApiStack) -> None:
    user = await stack.register()
    for provider in PROVIDERS:
        for key in VALID[provider]:
            added = await stack.add_key(user, provider, f"  {key}\n")
            assert added["hint"] == hint(provider, key)
