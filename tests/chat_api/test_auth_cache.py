"""The chat path's auth cache: hits skip the database, yet logout and revocation still act at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from chat_api.accounts.auth_cache import AuthCache, CachedAuth
from chat_api.core.columns import utcnow
from tests.chat_api.chat_helpers import ANTHROPIC_MODEL, completion
from tests.support.chat_api import ChatApiStack, User


def _auth(*, expires_in: float = 3600) -> CachedAuth:
    return CachedAuth(
        user_id=uuid.uuid4(),
        token_id=uuid.uuid4(),
        kind="session",
        expires_at=utcnow() + timedelta(seconds=expires_in),
    )


def test_entries_expire_with_the_ttl_or_the_token() -> None:
    cache = AuthCache(ttl=60)
    live, expired = _auth(), _auth(expires_in=-1)
    cache.put(b"live", live, epoch=cache.epoch)
    cache.put(b"expired", expired, epoch=cache.epoch)
    assert cache.get(b"live") == live
    assert cache.get(b"expired") is None
    assert cache.get(b"unknown") is None

    stale = AuthCache(ttl=1e-9)
    stale.put(b"live", live, epoch=stale.epoch)
    assert stale.get(b"live") is None

    off = AuthCache(ttl=0)
    off.put(b"live", live, epoch=off.epoch)
    assert off.get(b"live") is None


def test_forgetting_a_token_purges_it_and_what_was_read_before() -> None:
    cache = AuthCache(ttl=60)
    kept, revoked = _auth(), _auth()
    cache.put(b"kept", kept, epoch=cache.epoch)
    cache.put(b"revoked", revoked, epoch=cache.epoch)
    read_before = cache.epoch
    cache.forget_token(revoked.token_id)
    assert cache.get(b"revoked") is None
    assert cache.get(b"kept") == kept
    # A lookup that started before the revocation may have read the row before it was revoked.
    cache.put(b"revoked", revoked, epoch=read_before)
    assert cache.get(b"revoked") is None


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = AuthCache(ttl=60, max_entries=2)
    first, second, third = _auth(), _auth(), _auth()
    cache.put(b"1", first, epoch=cache.epoch)
    cache.put(b"2", second, epoch=cache.epoch)
    assert cache.get(b"1") == first
    cache.put(b"3", third, epoch=cache.epoch)
    assert cache.get(b"2") is None
    assert cache.get(b"1") == first
    assert cache.get(b"3") == third


async def test_a_cached_token_stops_working_at_once_on_logout(stack: ChatApiStack) -> None:
    user = await stack.register()
    assert (await completion(stack, user, ANTHROPIC_MODEL)).status_code == 200  # now cached
    assert (await stack.http.post("/v1/auth/logout", headers=user.headers)).status_code == 204
    refused = await completion(stack, user, ANTHROPIC_MODEL)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"


async def test_a_cached_api_token_stops_working_at_once_when_revoked(stack: ChatApiStack) -> None:
    user = await stack.register()
    created = await stack.http.post("/v1/tokens", json={"name": "ci"}, headers=user.headers)
    assert created.status_code == 201, created.text
    api = User(id=user.id, email=user.email, token=created.json()["token"])
    assert (await completion(stack, api, ANTHROPIC_MODEL)).status_code == 200  # now cached
    revoked = await stack.http.delete(f"/v1/tokens/{created.json()['id']}", headers=user.headers)
    assert revoked.status_code == 204
    assert (await completion(stack, api, ANTHROPIC_MODEL)).status_code == 401
    assert (await completion(stack, user, ANTHROPIC_MODEL)).status_code == 200
