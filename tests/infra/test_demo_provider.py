"""`make dev`'s demo provider: which providers it stands in for, and the keys it accepts.

Called with the official SDKs: a key of the provider's shape (chat-api's own rules) works, any other
key gets the provider's real authentication error. One test runs it as the supervisor does,
`python -m switchyard_dev.provider_sim --demo`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import anthropic
import httpx
import openai
import pytest

from chat_api.credentials.key_shapes import KeyShapeError, normalize_key
from switchyard_dev.provider_sim import ProviderSimulator
from switchyard_dev.provider_sim.demo import (
    DEMO_PROVIDERS,
    KEEP_CALLS,
    PLATFORM_KEYS,
    accepts_key,
    demo_environment,
)
from tests.support.chat_api import provider_key
from tests.support.ports import free_port, wait_for_port
from tests.support.processes import REPO_ROOT

PORT = 17999  # demo_environment only formats it


def test_every_demo_provider_is_served_when_the_caller_configured_none() -> None:
    env = demo_environment({}, PORT)
    assert env["ROUTER_DEMO_PROVIDERS"] == "openai,anthropic,google"
    assert env["SWITCHYARD_DEMO_PORT"] == str(PORT)
    assert env["ROUTER_OPENAI_BASE_URL"] == f"http://127.0.0.1:{PORT}/openai/v1"
    assert env["ROUTER_ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{PORT}/anthropic"
    assert env["ROUTER_GOOGLE_BASE_URL"] == f"http://127.0.0.1:{PORT}/google"
    for provider in DEMO_PROVIDERS:
        assert env[f"ROUTER_{provider.upper()}_PLATFORM_KEY"] == PLATFORM_KEYS[provider]


@pytest.mark.parametrize("given", ["ROUTER_OPENAI_BASE_URL", "ROUTER_OPENAI_PLATFORM_KEY"])
def test_a_real_base_url_or_platform_key_overrides_the_demo(given: str) -> None:
    env = demo_environment({given: "https://llm.example.com/v1"}, PORT)
    assert env["ROUTER_DEMO_PROVIDERS"] == "anthropic,google"
    assert "ROUTER_OPENAI_BASE_URL" not in env
    assert "ROUTER_OPENAI_PLATFORM_KEY" not in env


def test_an_empty_setting_is_not_a_real_one() -> None:
    env = demo_environment({"ROUTER_GOOGLE_BASE_URL": "", "ROUTER_GOOGLE_PLATFORM_KEY": ""}, PORT)
    assert env["ROUTER_GOOGLE_BASE_URL"] == f"http://127.0.0.1:{PORT}/google"


def test_the_demo_platform_keys_have_their_providers_shapes() -> None:
    for provider, key in PLATFORM_KEYS.items():
        assert normalize_key(provider, key) == key


@pytest.fixture
async def demo_url() -> AsyncIterator[str]:
    async with ProviderSimulator(accepts_key=accepts_key, keep_calls=KEEP_CALLS) as demo:
        yield demo.url


async def test_a_key_of_the_right_shape_chats_with_the_openai_sdk(demo_url: str) -> None:
    client = openai.AsyncOpenAI(
        api_key=provider_key("openai"), base_url=f"{demo_url}/openai/v1", max_retries=0
    )
    reply = await client.chat.completions.create(
        model="gpt-5.4-mini", messages=[{"role": "user", "content": "hello demo"}]
    )
    assert reply.choices[0].message.content == "echo: hello demo"


@pytest.mark.parametrize(
    "key", ["sk-too-short", "sk-ant-" + "a" * 40, "sk-with spaces-in-the-middle-0000000"]
)
async def test_any_other_openai_key_gets_openais_own_401(demo_url: str, key: str) -> None:
    with pytest.raises(KeyShapeError):
        normalize_key("openai", key)  # the same key chat-api would refuse to store
    async with openai.AsyncOpenAI(api_key=key, base_url=f"{demo_url}/openai/v1", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.models.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


async def test_anthropic_keys_are_checked_against_anthropics_shape(demo_url: str) -> None:
    base_url = f"{demo_url}/anthropic"
    async with anthropic.AsyncAnthropic(
        api_key=provider_key("anthropic"), base_url=base_url, max_retries=0
    ) as good:
        message = await good.messages.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi there"}]
        )
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: hi there"
    async with anthropic.AsyncAnthropic(
        api_key=provider_key("openai"), base_url=base_url, max_retries=0
    ) as wrong:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await wrong.models.list()
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}


async def test_google_keys_are_checked_against_googles_shape(demo_url: str) -> None:
    url = f"{demo_url}/google/v1beta/models"
    async with httpx.AsyncClient() as http:
        assert (await http.get(url, headers={"x-goog-api-key": provider_key("google")})).status_code == 200
        refused = await http.get(url, headers={"x-goog-api-key": "AIza-too-short"})
    assert refused.status_code == 400  # what Google answers for a bad key
    assert refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert refused.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"


async def test_a_long_running_demo_keeps_only_recent_calls() -> None:
    async with ProviderSimulator(accepts_key=accepts_key, keep_calls=3) as demo, httpx.AsyncClient() as http:
        for _ in range(5):
            await http.get(f"{demo.url}/openai/v1/models", headers={"Authorization": "Bearer sk-x"})
        assert len(demo.calls) == 3


@pytest.mark.slow  # a process of its own, as `make dev` starts it
def test_runs_as_the_supervisor_starts_it() -> None:
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "switchyard_dev.provider_sim", "--demo", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, pid=demo.pid)
        url = f"http://127.0.0.1:{port}/openai/v1/models"
        assert (
            httpx.get(url, headers={"Authorization": f"Bearer {provider_key('openai')}"}).status_code == 200
        )
        assert httpx.get(url, headers={"Authorization": "Bearer sk-wrong"}).status_code == 401
    finally:
        demo.terminate()
        output = demo.communicate(timeout=10)[0].decode()
    assert output.strip() == f"demo provider listening on http://127.0.0.1:{port}", output
