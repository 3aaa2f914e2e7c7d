"""The sweep's eyes: every shape of a canary it claims to look for is found where it is hidden, and
what a key may legitimately leave behind (its hint) is not mistaken for a leak."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest

from tests.support.chat_api import VALID_KEYS, provider_key
from tests.support.leaks import FRAGMENT, Canary, hits_in

PROVIDERS = ["openai", "anthropic", "google"]


def canary(provider: str) -> Canary:
    return Canary(provider, provider_key(provider), VALID_KEYS[provider][0])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("offset", range(4))
def test_a_canary_inside_a_base64_blob_is_found_at_any_alignment(provider: str, offset: int) -> None:
    key = canary(provider)
    blob = json.dumps({"pad": "x" * offset, "authorization": f"Bearer {key.value}", "tail": "y"}).encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        found = hits_in(b"log line " + encode(blob) + b" end", [key])
        assert any("base64" in hit for hit in found), found


@pytest.mark.parametrize("provider", PROVIDERS)
def test_hex_url_encoded_and_partial_copies_are_found(provider: str) -> None:
    key = canary(provider)
    body = key.value.removeprefix(key.prefix)
    hidden = {
        "bytea column": b'(1,"\\\\x' + key.value.encode().hex().encode() + b'")',
        "query string": f"GET /x?q={urllib.parse.quote(key.value + '/&')}".encode(),
        "masked echo": f"Incorrect API key provided: {key.prefix}****{body[10:30]}****".encode(),
        "truncated echo": f"key ending in ...{key.value[-FRAGMENT:]}".encode(),
    }
    for where, data in hidden.items():
        assert hits_in(data, [key]), where


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_hint_and_other_keys_are_not_leaks(provider: str) -> None:
    key, other = canary(provider), canary(provider)
    hint = f"{key.prefix}…{key.value[-4:]}".encode()
    assert hits_in(hint + b" " + other.value.encode(), [key]) == []
