"""Which access serves a chat: the user's own key when there is one, platform access otherwise, and
the key's failures as clear problems."""

from __future__ import annotations

from tests.chat_api.chat_helpers import OPENAI_MODEL, PROBLEMS, completion, new_conversation, send
from tests.support.chat_api import ChatApiStack, provider_key


async def test_a_user_key_serves_its_provider_and_the_headers_say_user(stack: ChatApiStack) -> None:
    user = await stack.register()
    secret = provider_key("openai")
    await stack.add_key(user, "openai", secret)

    answer = await completion(stack, user, OPENAI_MODEL)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-switchyard-key-source"] == "user"
    assert answer.headers["x-switchyard-provider"] == "openai"
    assert stack.sim.calls_for("openai")[-1].api_key == secret

    conversation = await new_conversation(stack, user)
    streamed = await send(stack, user, conversation, "hi", model=OPENAI_MODEL)
    assert streamed.first("route")["key_source"] == "user"
    assert stack.sim.calls_for("openai")[-1].api_key == secret
    assert secret not in answer.text + streamed.response.text


async def test_a_rejected_user_key_is_key_rejected_not_platform(stack: ChatApiStack) -> None:
    user = await stack.register()
    secret = provider_key("openai")
    await stack.add_key(user, "openai", secret)
    stack.sim.fail_next("openai", 401, echo_key=True)

    rejected = await completion(stack, user, OPENAI_MODEL)
    assert rejected.status_code == 422
    assert rejected.json()["error"]["code"] == "key_rejected"
    assert secret not in rejected.text
    assert stack.sim.calls_for("openai")[-1].api_key == secret  # never silently retried on platform access

    conversation = await new_conversation(stack, user)
    stack.sim.fail_next("openai", 401)
    problem = await send(stack, user, conversation, "hi", model=OPENAI_MODEL)
    assert problem.response.status_code == 422
    assert problem.response.json()["type"] == PROBLEMS + "key-rejected"


async def test_provider_rate_limit_on_a_conversation_is_a_429_problem(stack: ChatApiStack) -> None:
    user = await stack.register()
    await stack.add_key(user, "openai")
    conversation = await new_conversation(stack, user)
    stack.sim.fail_next("openai", 429, retry_after="5")
    limited = await send(stack, user, conversation, "hi", model=OPENAI_MODEL)
    assert limited.response.status_code == 429
    assert limited.response.headers["retry-after"] == "5"
    assert limited.response.json()["type"] == PROBLEMS + "provider-rate-limited"
