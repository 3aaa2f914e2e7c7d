"""Every pooled database connection busy: requests wait `database_pool_timeout_seconds`, then get a
503 (problem+json, or OpenAI's error shape on its route) instead of a 500; service resumes by itself."""

from __future__ import annotations

from tests.chat_api.chat_helpers import OPENAI_MODEL, PROBLEMS
from tests.chat_api.conftest import StackFactory


async def test_an_exhausted_pool_answers_503_and_recovers(stack_with: StackFactory) -> None:
    async with stack_with(
        database_pool_size=1,
        database_max_overflow=0,
        database_pool_timeout_seconds=0.5,
        auth_cache_seconds=0,
    ) as stack:
        user = await stack.register()
        # The pool's only connection, held as a long transaction (or a stuck request) would hold it.
        held = stack.api.app.state.sessions()
        held.connection()
        try:
            keys = await stack.http.get("/v1/keys", headers=user.headers)
            assert keys.status_code == 503, keys.text
            assert keys.headers["content-type"] == "application/problem+json"
            assert keys.json()["type"] == PROBLEMS + "unavailable"
            assert keys.headers["retry-after"] == "1"

            chat = await stack.http.post(
                "/v1/chat/completions",
                headers=user.headers,
                json={"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert chat.status_code == 503, chat.text
            assert chat.json()["error"]["type"] == "api_error"
        finally:
            held.close()
        assert (await stack.http.get("/v1/keys", headers=user.headers)).status_code == 200
