"""chat-api fuzzed from its own OpenAPI document against the whole stack: no 5xx, nothing undocumented,
invalid input refused, no request hanging. `FUZZ_CASES` (per operation and mode) sizes the run; without
`FUZZ_SEED` the cases are the same every run (`make test`), `make fuzz` runs it large on a new seed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
import requests

from chat_api.core.openapi import OPENAI_PATHS
from chat_api.core.openapi import PROBLEM_MEDIA_TYPE as PROBLEM_MEDIA
from chat_api.main import create_app
from tests.chat_api.conftest import StackFactory, chat_api_settings
from tests.support.chat_api import UNUSED_DATABASE_URL, ChatApiStack
from tests.support.fuzz import fuzz_api

FUZZ_CASES = int(os.environ.get("FUZZ_CASES", "25"))
FUZZ_SEED = os.environ.get("FUZZ_SEED")


@pytest.fixture
async def fuzz_stack(stack_with: StackFactory) -> AsyncIterator[ChatApiStack]:
    """The `stack` (per-user rate limits off, so the fuzzer reaches the code behind them)."""
    async with stack_with(revocation_wait_seconds=2) as stack:
        yield stack


async def _known_ids(stack: ChatApiStack) -> tuple[dict[str, str], dict[str, str]]:
    """A user with a key, an org, a conversation and an API token: ids the fuzzer can aim at."""
    user = await stack.register()
    key = await stack.add_key(user, "openai")
    org = (await stack.http.post("/v1/orgs", json={"name": "fuzz"}, headers=user.headers)).json()
    conversation = (await stack.http.post("/v1/conversations", json={}, headers=user.headers)).json()
    token = (await stack.http.post("/v1/tokens", json={"name": "fuzz"}, headers=user.headers)).json()
    known = {
        "key_id": key["id"],
        "org_id": org["id"],
        "conversation_id": conversation["id"],
        "member_id": user.id,
        "token_id": token["id"],
        "model": "openai/gpt-5.4-mini",
    }
    return known, {"email": user.email, "token": user.token}


def _headers_for(base_url: str, user: Mapping[str, str]) -> object:
    def headers_for(label: str) -> Mapping[str, str]:
        if not label.endswith("/v1/auth/logout"):
            return {"Authorization": f"Bearer {user['token']}"}
        # Logout ends the token it is called with, so each logout case gets a fresh session.
        login = requests.post(
            f"{base_url}/v1/auth/login",
            json={"email": user["email"], "password": "correct horse battery"},
            timeout=10,
        )
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    return headers_for


@pytest.mark.timeout(1800)
async def test_fuzz_every_operation(fuzz_stack: ChatApiStack) -> None:
    known, user = await _known_ids(fuzz_stack)
    base_url = fuzz_stack.base_url
    report = await asyncio.to_thread(
        fuzz_api,
        base_url=base_url,
        headers_for=_headers_for(base_url, user),  # type: ignore[arg-type]
        known=known,
        max_examples=FUZZ_CASES,
        seed=int(FUZZ_SEED) if FUZZ_SEED else None,
    )
    print(f"\nseed: {FUZZ_SEED or 'derandomized'}\n{report.summary()}")
    # Both modes of every operation, bar the listed operations that take no input at all.
    assert len(report.operations) >= 38, sorted(report.operations)
    assert len(report.cases) == 2 * len(report.operations) - len(report.excluded), report.summary()
    assert not report.failures, report.summary()


def test_every_operation_documents_its_errors(tmp_path: Path) -> None:
    """What the fuzzer holds the app to: shared errors documented once, in each route's own shape."""
    document = create_app(chat_api_settings(UNUSED_DATABASE_URL, tmp_path)).openapi()
    problem = {"$ref": "#/components/schemas/Problem"}
    openai = {"$ref": "#/components/schemas/OpenAIError"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            shape, media = (openai, "application/json") if path in OPENAI_PATHS else (problem, PROBLEM_MEDIA)
            expected = {"503"} if path != "/healthz" else set()
            if operation.get("security"):
                expected.add("401")
            if operation.get("requestBody"):
                expected |= {"400", "413"}
            for status in expected:
                assert responses[status]["content"][media]["schema"] == shape, (method, path, status)
            assert "HTTPValidationError" not in str(responses), (method, path)
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert set(chat["200"]["content"]) == {"application/json", "text/event-stream"}
    assert chat["429"]["headers"]["Retry-After"]
    messages = document["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]["responses"]
    assert set(messages["200"]["content"]) == {"text/event-stream"}
    assert "429" in document["paths"]["/v1/keys"]["post"]["responses"]
