"""The router as chat-api calls it: real mTLS gRPC, real keyvault and NATS, the provider simulator.

Covers every provider on both RPCs (what the provider received, in its own wire format, and what
came back), the mapping of every provider failure to the error the user sees (and the
CredentialInvalid event for a rejected stored key), opt-in fallback to platform access, "auto",
request validation, ListModels and VerifyCredential.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anthropic._constants
import google.genai._api_client
import nats
import pytest
from grpc import StatusCode, aio
from nats.aio.subscription import Subscription

from router.catalog import CAPABILITIES, CatalogModel, load_catalog
from router.providers import anthropic as anthropic_adapter
from router.providers import google as google_adapter
from switchyard.events.v1 import credentials_pb2
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.events import INVALID_SUBJECT
from switchyard_common.providers import PROVIDERS as REGISTRY
from switchyard_dev.provider_sim import (
    OPENAI_COMPATIBLE,
    PROVIDERS,
    ProviderSimulator,
    RecordedCall,
    count_tokens,
    reply_text,
    tokens_of,
)
from tests.support.keyvault import KeyVaultClient, binding_to_proto
from tests.support.nats_server import NatsServer
from tests.support.router import (
    PLATFORM_KEYS,
    ChatResult,
    RunningRouter,
    StoredKey,
    chat_request,
    store_key,
)

CATALOG = load_catalog()
DISPLAY = {name: provider.display_name for name, provider in REGISTRY.items()}
MODEL = {provider: CATALOG.for_provider(provider)[0] for provider in PROVIDERS}
VISION = {
    provider: models[0]
    for provider in PROVIDERS
    if (models := [m for m in CATALOG.for_provider(provider) if "vision" in m.capabilities])
}
PLATFORM = sorted(PLATFORM_KEYS)
SSE_FORMATS = ["openai", "anthropic", "google"]  # one provider per wire format

Message = tuple[router_pb2.Role, str]
SYSTEM = "Answer briefly and politely."
HISTORY: list[Message] = [
    (router_pb2.ROLE_USER, "first question here"),
    (router_pb2.ROLE_ASSISTANT, "first answer"),
    (router_pb2.ROLE_USER, "second question please"),
]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-not-really-an-image"
PNG_B64 = base64.b64encode(PNG).decode("ascii")
IMAGE_URL = "https://images.example.com/cat.png"


# --- helpers -----------------------------------------------------------------------------------------


def conversation(
    model: str,
    turns: Sequence[Message],
    *,
    system: str | None = None,
    keys: Sequence[StoredKey] = (),
    max_output_tokens: int | None = None,
) -> router_pb2.ChatRequest:
    request = chat_request(model, keys=keys, max_output_tokens=max_output_tokens)
    del request.messages[:]
    if system is not None:
        request.messages.append(
            router_pb2.Message(role=router_pb2.ROLE_SYSTEM, parts=[router_pb2.ContentPart(text=system)])
        )
    for role, text in turns:
        request.messages.append(router_pb2.Message(role=role, parts=[router_pb2.ContentPart(text=text)]))
    return request


def forbid_platform_everywhere() -> list[router_pb2.ProviderPolicy]:
    return [router_pb2.ProviderPolicy(provider=p, forbid_platform=True) for p in PROVIDERS]


async def both(
    router: RunningRouter, request: router_pb2.ChatRequest
) -> tuple[ChatResult, router_pb2.CompleteResponse]:
    """The same request streamed (Chat) and then whole (Complete)."""
    return await router.chat(request), await router.complete(request)


def kinds(result: ChatResult) -> list[str]:
    return [str(event.WhichOneof("event")) for event in result.events]


def stream_error(result: ChatResult, *, started: bool = False) -> router_pb2.Error:
    """The single error a failed stream ends with; no finish event. A stream that failed before the
    provider sent anything has no route either (`started` False): nothing reached the client."""
    assert result.error is not None, result.events
    shape = kinds(result)
    assert shape[-1] == "error", shape
    assert shape.count("error") == 1, shape
    assert "finish" not in shape, shape
    if not started:
        assert shape == ["error"], shape
    return result.error


def complete_error(response: router_pb2.CompleteResponse) -> router_pb2.Error:
    assert response.HasField("error"), response
    assert not response.HasField("route"), response
    assert not response.HasField("finish"), response
    assert response.text == ""
    return response.error


def model_of(route: router_pb2.Route) -> CatalogModel:
    model = CATALOG.get(route.model)
    assert model is not None, route.model
    assert model.provider == route.provider
    return model


async def wait_for_event_publishing(router: RunningRouter) -> None:
    """The router publishes CredentialInvalid on its revocation feed's NATS connection; wait until
    that connection is up (the server starts serving without waiting for NATS)."""
    revocations = router.server.revocations
    assert revocations is not None
    async with asyncio.timeout(10):
        while not revocations.healthy:
            await asyncio.sleep(0.02)


@pytest.fixture
async def invalid_subscription(nats_server: NatsServer, router: RunningRouter) -> AsyncIterator[Subscription]:
    """Subscribed to switchyard.credentials.invalid.v1 before the test makes any call."""
    await wait_for_event_publishing(router)
    nc = await nats.connect(nats_server.url, connect_timeout=2, allow_reconnect=False)
    try:
        sub = await nc.subscribe(INVALID_SUBJECT)
        await nc.flush()
        yield sub
    finally:
        await nc.close()


async def hung_up(sim: ProviderSimulator) -> None:
    """The router closed every provider connection it gave up on (the simulator sees the EOF soon)."""
    async with asyncio.timeout(2):
        while not all(call.disconnected for call in sim.calls):
            await asyncio.sleep(0.01)


async def next_invalid(sub: Subscription) -> credentials_pb2.CredentialInvalid:
    message = await sub.next_msg(timeout=3)
    event = credentials_pb2.CredentialInvalid()
    event.ParseFromString(message.data)
    return event


# --- 1. every provider, both RPCs ------------------------------------------------------------------


def expected_history(provider: str, body: Any) -> None:
    """The system message and the turns, in the provider's own request format."""
    (_, first), (_, answer), (_, second) = HISTORY
    if provider in OPENAI_COMPATIBLE:
        assert body["messages"] == [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": first},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": second},
        ]
    elif provider == "anthropic":
        # The Messages API has no system role: the system prompt is a top-level field.
        assert body["system"] == SYSTEM
        assert body["messages"] == [
            {"role": "user", "content": first},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": second},
        ]
        assert isinstance(body["max_tokens"], int)
    else:
        assert body["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
        assert body["contents"] == [
            {"role": "user", "parts": [{"text": first}]},
            {"role": "model", "parts": [{"text": answer}]},
            {"role": "user", "parts": [{"text": second}]},
        ]


def expected_endpoint(provider: str, model: CatalogModel, call: RecordedCall) -> None:
    assert call.method == "POST"
    if provider in OPENAI_COMPATIBLE:
        assert call.path == "/v1/chat/completions"
        assert call.json_body["model"] == model.provider_model
        assert call.json_body.get("stream", False) is call.stream
    elif provider == "anthropic":
        assert call.path == "/v1/messages"
        assert call.headers["anthropic-version"] == anthropic_adapter.API_VERSION
        assert call.json_body["model"] == model.provider_model
        assert call.json_body.get("stream", False) is call.stream
    else:
        action = "streamGenerateContent" if call.stream else "generateContent"
        assert call.path == f"/{google_adapter.API_VERSION}/models/{model.provider_model}:{action}"
        assert call.query == ({"alt": "sse"} if call.stream else {})


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_every_provider_streams_and_completes_with_the_users_key(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator, provider: str
) -> None:
    key = await store_key(vault, provider)
    model = MODEL[provider]
    request = conversation(model.id, HISTORY, system=SYSTEM, keys=[key])
    answer = reply_text(HISTORY[-1][1])
    prompt_tokens = count_tokens(SYSTEM) + sum(count_tokens(text) for _, text in HISTORY)

    streamed, completed = await both(router, request)

    shape = kinds(streamed)
    assert shape[0] == "route", "the route event comes first"
    assert shape[-1] == "finish", shape
    assert shape.count("finish") == 1, shape
    assert set(shape[1:-1]) == {"text_delta"}, shape
    assert streamed.text == answer
    for route in (streamed.route, completed.route):
        assert route is not None
        assert route.provider == provider
        assert route.model == model.id
        assert route.key_source == router_pb2.KEY_SOURCE_USER
        assert route.credential_id == key.binding.credential_id
        assert not route.fell_back
        assert route.auto_reason == ""
    assert not completed.HasField("error"), completed.error
    assert completed.text == answer
    assert streamed.finish is not None
    for finish in (streamed.finish, completed.finish):
        assert finish.reason == router_pb2.FINISH_REASON_STOP
        assert finish.usage.input_tokens == prompt_tokens > 0
        assert finish.usage.output_tokens == len(tokens_of(answer)) > 0
    assert streamed.finish.usage == completed.finish.usage

    # A small output limit cuts the answer, on both paths.
    limited = conversation(model.id, HISTORY, system=SYSTEM, keys=[key], max_output_tokens=2)
    cut_stream, cut_complete = await both(router, limited)
    cut = "".join(tokens_of(answer)[:2])
    assert cut_stream.text == cut_complete.text == cut
    assert cut_stream.finish is not None
    for finish in (cut_stream.finish, cut_complete.finish):
        assert finish.reason == router_pb2.FINISH_REASON_LENGTH
        assert finish.usage.output_tokens == 2

    calls = provider_sim.calls_for(provider)
    assert [call.stream for call in calls] == [True, False, True, False]
    assert [call.api_key for call in calls] == [key.secret] * 4
    assert all(call.status == 200 for call in calls)
    for call in calls:
        expected_endpoint(provider, model, call)
        expected_history(provider, call.json_body)
    assert provider_sim.keys_seen(provider) == {key.secret}
    assert [call.provider for call in provider_sim.calls] == [provider] * 4
    assert provider_sim.violations == []


def expected_image_parts(provider: str, text: str) -> list[dict[str, Any]]:
    if provider in OPENAI_COMPATIBLE:
        return [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
            {"type": "image_url", "image_url": {"url": IMAGE_URL}},
        ]
    if provider == "anthropic":
        return [
            {"type": "text", "text": text},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
            {"type": "image", "source": {"type": "url", "url": IMAGE_URL}},
        ]
    return [
        {"text": text},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
        {"fileData": {"fileUri": IMAGE_URL, "mimeType": "image/png"}},
    ]


def image_request(model: str, text: str, *, keys: Sequence[StoredKey] = ()) -> router_pb2.ChatRequest:
    request = chat_request(model, keys=keys)
    request.messages[0].CopyFrom(
        router_pb2.Message(
            role=router_pb2.ROLE_USER,
            parts=[
                router_pb2.ContentPart(text=text),
                router_pb2.ContentPart(image=router_pb2.ImagePart(data=PNG, media_type="image/png")),
                router_pb2.ContentPart(image=router_pb2.ImagePart(url=IMAGE_URL, media_type="image/png")),
            ],
        )
    )
    return request


async def test_images_reach_each_providers_vision_model_in_its_format(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    assert set(VISION) == set(PROVIDERS) - {"deepseek"}, "the catalog's vision models changed"
    text = "what is in this picture"
    for provider, model in VISION.items():
        key = await store_key(vault, provider)
        result = await router.chat(image_request(model.id, text, keys=[key]))
        assert result.error is None, (provider, result.error)
        assert result.route is not None
        assert result.route.model == model.id
        assert result.text == reply_text(text), provider
        (call,) = provider_sim.calls_for(provider)
        assert call.api_key == key.secret
        if provider == "google":
            sent = call.json_body["contents"][-1]["parts"]
        else:
            sent = call.json_body["messages"][-1]["content"]
        assert sent == expected_image_parts(provider, text), provider
    assert provider_sim.violations == []


# --- 2. provider failures → errors -----------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_a_rejected_user_key_is_reported_and_published(
    router: RunningRouter,
    vault: KeyVaultClient,
    provider_sim: ProviderSimulator,
    invalid_subscription: Subscription,
    status: int,
) -> None:
    for provider in PROVIDERS:
        key = await store_key(vault, provider, owner_id="user-1")
        provider_sim.fail_next(provider, status, times=2)
        streamed, completed = await both(router, chat_request(MODEL[provider].id, keys=[key]))
        for error in (stream_error(streamed), complete_error(completed)):
            assert error.type == router_pb2.ERROR_TYPE_CREDENTIAL_REJECTED, (provider, error)
            assert error.message.startswith(f"your {DISPLAY[provider]} key was rejected"), error.message
            assert error.provider == provider
        for _ in range(2):
            event = await next_invalid(invalid_subscription)
            assert event.credential_id == key.binding.credential_id
            assert event.owner_type == keyvault_pb2.OWNER_TYPE_USER
            assert event.owner_id == "user-1"
            assert event.provider == provider
            assert event.provider_status == status
            assert event.event_id
        assert provider_sim.keys_seen(provider) == {key.secret}


async def test_a_key_the_provider_refuses_its_own_way_is_reported(
    router: RunningRouter,
    vault: KeyVaultClient,
    provider_sim: ProviderSimulator,
    invalid_subscription: Subscription,
) -> None:
    """Not every provider says 401: Google answers a bad key with 400 API_KEY_INVALID, xAI with 400
    "Incorrect API key provided". Each is still a rejected key, not a bad request."""
    for provider in PROVIDERS:
        key = await store_key(vault, provider, scope="org", owner_id="org-1")
        provider_sim.set_valid_keys(provider, {"sk-some-other-key-entirely-000"})
        streamed, completed = await both(router, chat_request(MODEL[provider].id, keys=[key]))
        for error in (stream_error(streamed), complete_error(completed)):
            assert error.type == router_pb2.ERROR_TYPE_CREDENTIAL_REJECTED, (provider, error)
            assert error.message.startswith(f"your organization's {DISPLAY[provider]} key was rejected")
        for _ in range(2):
            event = await next_invalid(invalid_subscription)
            assert (event.credential_id, event.owner_type, event.owner_id, event.provider) == (
                key.binding.credential_id,
                keyvault_pb2.OWNER_TYPE_ORG,
                "org-1",
                provider,
            )


async def test_rejected_platform_access_is_not_reported_as_a_user_credential(
    router: RunningRouter,
    vault: KeyVaultClient,
    provider_sim: ProviderSimulator,
    invalid_subscription: Subscription,
) -> None:
    for provider in PLATFORM:
        provider_sim.fail_next(provider, 401, times=2)
        streamed, completed = await both(router, chat_request(MODEL[provider].id))
        for error in (stream_error(streamed), complete_error(completed)):
            assert error.type == router_pb2.ERROR_TYPE_CREDENTIAL_REJECTED
            assert error.message.startswith(f"platform access to {DISPLAY[provider]}"), error.message
            assert "your" not in error.message
        assert provider_sim.keys_seen(provider) == {PLATFORM_KEYS[provider]}
    # Events are published before the reply; the first one is this user's, so none came before it.
    key = await store_key(vault, "openai")
    provider_sim.fail_next("openai", 401)
    await router.complete(chat_request(MODEL["openai"].id, keys=[key]))
    first = await next_invalid(invalid_subscription)
    assert first.credential_id == key.binding.credential_id


async def test_rate_limits_carry_retry_after(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    for provider in PROVIDERS:
        key = await store_key(vault, provider)
        provider_sim.fail_next(provider, 429, retry_after="7", times=2)
        streamed, completed = await both(router, chat_request(MODEL[provider].id, keys=[key]))
        for error in (stream_error(streamed), complete_error(completed)):
            assert error.type == router_pb2.ERROR_TYPE_RATE_LIMITED, (provider, error)
            assert error.retry_after_seconds == 7.0, provider
            assert error.provider == provider
            assert DISPLAY[provider] in error.message
        assert provider_sim.keys_seen(provider) == {key.secret}


@pytest.mark.parametrize(
    ("status", "providers"),
    [(500, PROVIDERS), (503, PROVIDERS), (529, ("anthropic",))],
    ids=["500", "503", "529-anthropic-overloaded"],
)
async def test_provider_outages_are_unavailable(
    router: RunningRouter,
    vault: KeyVaultClient,
    provider_sim: ProviderSimulator,
    status: int,
    providers: Sequence[str],
) -> None:
    for provider in providers:
        key = await store_key(vault, provider)
        provider_sim.fail_next(provider, status, times=2)
        streamed, completed = await both(router, chat_request(MODEL[provider].id, keys=[key]))
        for error in (stream_error(streamed), complete_error(completed)):
            assert error.type == router_pb2.ERROR_TYPE_PROVIDER_UNAVAILABLE, (provider, error)
            assert f"HTTP {status}" in error.message
            assert error.retry_after_seconds == 0


async def test_bad_requests_carry_the_providers_own_message(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    for provider in PROVIDERS:
        key = await store_key(vault, provider)
        # (Nothing that looks like a piece of the key: the router scrubs those from provider text.)
        message = f"this model does not support the 'seed' parameter (code {len(provider)}40)"
        provider_sim.fail_next(provider, 400, message=message, times=2)
        streamed, completed = await both(router, chat_request(MODEL[provider].id, keys=[key]))
        for error in (stream_error(streamed), complete_error(completed)):
            assert error.type == router_pb2.ERROR_TYPE_BAD_REQUEST, (provider, error)
            assert message in error.message
            assert key.secret not in error.message


async def test_first_byte_timeout(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    """The settings' first-byte timeout is 3 s; the provider would answer after 6 s."""

    async def check(provider: str) -> None:
        key = await store_key(vault, provider)
        provider_sim.fail_next(provider, delay_first_byte=6, times=2)
        request = chat_request(MODEL[provider].id, keys=[key])
        streamed, completed = await asyncio.gather(router.chat(request), router.complete(request))
        for error in (stream_error(streamed), complete_error(completed)):
            assert error.type == router_pb2.ERROR_TYPE_PROVIDER_UNAVAILABLE, (provider, error)
            assert "first byte timeout" in error.message

    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(check(provider) for provider in SSE_FORMATS))
    assert 2.9 < asyncio.get_running_loop().time() - started < 5.5, "ended by the 3 s first-byte timeout"
    await hung_up(provider_sim)


# Events a stream sends before its first text delta, per wire format.
PREAMBLE = {"openai": 1, "anthropic": 3, "google": 0}  # role delta; start, block start, ping; none
STORY = "tell me a long story about trains please"


async def test_a_stalled_stream_keeps_its_text_then_fails_on_the_idle_timeout(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    async def check(provider: str) -> None:
        key = await store_key(vault, provider)
        provider_sim.fail_next(provider, stall_after_events=PREAMBLE[provider] + 3)
        result = await router.chat(
            conversation(MODEL[provider].id, [(router_pb2.ROLE_USER, STORY)], keys=[key])
        )
        error = stream_error(result, started=True)
        assert kinds(result) == ["route", "text_delta", "text_delta", "text_delta", "error"], provider
        assert result.text == "".join(tokens_of(reply_text(STORY))[:3])
        assert error.type == router_pb2.ERROR_TYPE_PROVIDER_UNAVAILABLE
        assert "idle timeout" in error.message

    await asyncio.gather(*(check(provider) for provider in SSE_FORMATS))
    await hung_up(provider_sim)


async def test_a_truncated_reply_is_an_error(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    for provider in PROVIDERS:
        key = await store_key(vault, provider)
        fmt = provider if provider in SSE_FORMATS else "openai"
        provider_sim.fail_next(provider, truncate_after_events=PREAMBLE[fmt] + 2, times=2)
        request = conversation(MODEL[provider].id, [(router_pb2.ROLE_USER, STORY)], keys=[key])
        streamed, completed = await both(router, request)
        assert streamed.text == "".join(tokens_of(reply_text(STORY))[:2]), provider
        for error in (stream_error(streamed, started=True), complete_error(completed)):
            assert error.type == router_pb2.ERROR_TYPE_PROVIDER_UNAVAILABLE, (provider, error)


async def test_a_reply_that_is_not_json_is_unavailable(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    """A 200 with an HTML page (a proxy's challenge page, say) is not an answer."""
    for provider in PROVIDERS:
        key = await store_key(vault, provider)
        provider_sim.fail_next(provider, not_json=True, times=2)
        streamed, completed = await both(router, chat_request(MODEL[provider].id, keys=[key]))
        for error in (stream_error(streamed), complete_error(completed)):
            assert error.type == router_pb2.ERROR_TYPE_PROVIDER_UNAVAILABLE, (provider, error)


# --- 3. fallback to platform access ----------------------------------------------------------------


@pytest.mark.parametrize(("provider", "status"), [("openai", 429), ("anthropic", 503), ("google", 429)])
async def test_opted_in_key_falls_back_to_platform_access(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator, provider: str, status: int
) -> None:
    key = await store_key(vault, provider, fallback=True)
    request = chat_request(MODEL[provider].id, "fall back please", keys=[key])
    provider_sim.fail_next(provider, status, retry_after="30")
    streamed = await router.chat(request)
    provider_sim.fail_next(provider, status, retry_after="30")
    completed = await router.complete(request)

    assert kinds(streamed)[0] == "route"
    assert streamed.error is None, streamed.error
    assert not completed.HasField("error"), completed.error
    assert streamed.text == completed.text == "echo: fall back please"
    for route in (streamed.route, completed.route):
        assert route is not None
        assert route.key_source == router_pb2.KEY_SOURCE_PLATFORM
        assert route.fell_back
        assert route.credential_id == ""
    assert streamed.finish is not None
    assert streamed.finish.reason == completed.finish.reason == router_pb2.FINISH_REASON_STOP
    platform = PLATFORM_KEYS[provider]
    assert [call.api_key for call in provider_sim.calls_for(provider)] == [key.secret, platform] * 2
    assert [call.status for call in provider_sim.calls_for(provider)] == [status, 200] * 2


async def test_no_fallback_without_opt_in(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    key = await store_key(vault, "openai", fallback=False)
    provider_sim.fail_next("openai", 429, retry_after="12", times=2)
    streamed, completed = await both(router, chat_request(MODEL["openai"].id, keys=[key]))
    for error in (stream_error(streamed), complete_error(completed)):
        assert error.type == router_pb2.ERROR_TYPE_RATE_LIMITED
        assert error.retry_after_seconds == 12
        assert error.message == "OpenAI rate-limited your key"
    assert provider_sim.keys_seen("openai") == {key.secret}, "the platform key was never sent"


@pytest.mark.parametrize(
    ("provider", "status", "policy", "expected"),
    [
        ("openai", 429, "forbid_platform", router_pb2.ERROR_TYPE_RATE_LIMITED),
        ("anthropic", 503, "forbid_platform", router_pb2.ERROR_TYPE_PROVIDER_UNAVAILABLE),
        ("mistral", 429, None, router_pb2.ERROR_TYPE_RATE_LIMITED),  # no platform access at all
        ("openai", 401, None, router_pb2.ERROR_TYPE_CREDENTIAL_REJECTED),  # a bad key never falls back
        ("google", 403, None, router_pb2.ERROR_TYPE_CREDENTIAL_REJECTED),
        ("openai", 400, None, router_pb2.ERROR_TYPE_BAD_REQUEST),  # nor does a bad request
    ],
    ids=["policy-forbids-platform", "policy-forbids-platform-503", "no-platform-access", "401", "403", "400"],
)
async def test_opt_in_does_not_fall_back_when_it_may_not(
    router: RunningRouter,
    vault: KeyVaultClient,
    provider_sim: ProviderSimulator,
    provider: str,
    status: int,
    policy: str | None,
    expected: int,
) -> None:
    key = await store_key(vault, provider, fallback=True)
    policies = [router_pb2.ProviderPolicy(provider=provider, **{policy: True})] if policy else []
    request = chat_request(MODEL[provider].id, keys=[key], policies=policies)
    provider_sim.fail_next(provider, status, times=2)
    streamed, completed = await both(router, request)
    for error in (stream_error(streamed), complete_error(completed)):
        assert error.type == expected, error
    assert [call.api_key for call in provider_sim.calls_for(provider)] == [key.secret] * 2


# --- 4. auto, unknown models, malformed requests ---------------------------------------------------

FENCED = "Why does this raise?\n```python\nprint(1 / 0)\n```"


@pytest.mark.parametrize(
    ("prompt", "image", "capability"),
    [("describe this image", True, "vision"), (FENCED, False, "coding"), ("say hello", False, "fast")],
    ids=["image-vision", "code-coding", "plain-fast"],
)
async def test_auto_picks_a_reachable_model_for_the_content(
    router: RunningRouter,
    vault: KeyVaultClient,
    provider_sim: ProviderSimulator,
    prompt: str,
    image: bool,
    capability: str,
) -> None:
    """Reachable: a mistral user key, platform access for openai, anthropic and google."""
    key = await store_key(vault, "mistral")
    request = image_request("auto", prompt, keys=[key]) if image else chat_request("auto", prompt, keys=[key])
    streamed, completed = await both(router, request)
    assert streamed.route is not None
    assert streamed.route.auto_reason
    assert streamed.route == completed.route, "the choice is deterministic"
    chosen = model_of(streamed.route)
    assert capability in chosen.capabilities, chosen
    assert chosen.provider in {"mistral", *PLATFORM}
    expected_source = (
        router_pb2.KEY_SOURCE_USER if chosen.provider == "mistral" else router_pb2.KEY_SOURCE_PLATFORM
    )
    assert streamed.route.key_source == expected_source
    assert streamed.text == completed.text == reply_text(prompt)
    assert {call.provider for call in provider_sim.calls} == {chosen.provider}


async def test_auto_only_picks_what_policies_leave_reachable(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    groq = await store_key(vault, "groq")
    policies = forbid_platform_everywhere()
    plain = await router.chat(chat_request("auto", "say hello", keys=[groq], policies=policies))
    assert plain.route is not None
    assert plain.route.provider == "groq"
    assert plain.route.key_source == router_pb2.KEY_SOURCE_USER
    assert "fast" in model_of(plain.route).capabilities
    assert plain.text == "echo: say hello"

    # With only a mistral key, an image goes to mistral's vision model, not a (forbidden) platform one.
    mistral = await store_key(vault, "mistral")
    request = image_request("auto", "what is this", keys=[mistral])
    request.policies.extend(policies)
    seen = await router.chat(request)
    assert seen.route is not None
    assert seen.route.provider == "mistral"
    assert "vision" in model_of(seen.route).capabilities
    assert {call.provider for call in provider_sim.calls} == {"groq", "mistral"}
    assert provider_sim.keys_seen("groq") == {groq.secret}
    assert provider_sim.keys_seen("mistral") == {mistral.secret}

    nothing = await router.chat(chat_request("auto", "hello", policies=policies))
    assert stream_error(nothing).type == router_pb2.ERROR_TYPE_NO_ACCESS


async def test_unknown_model(router: RunningRouter, provider_sim: ProviderSimulator) -> None:
    streamed, completed = await both(router, chat_request("openai/gpt-does-not-exist"))
    for error in (stream_error(streamed), complete_error(completed)):
        assert error.type == router_pb2.ERROR_TYPE_UNKNOWN_MODEL
        assert "openai/gpt-does-not-exist" in error.message
    assert provider_sim.calls == []


def _no_messages(request: router_pb2.ChatRequest) -> None:
    del request.messages[:]


def _assistant_last(request: router_pb2.ChatRequest) -> None:
    request.messages.append(
        router_pb2.Message(role=router_pb2.ROLE_ASSISTANT, parts=[router_pb2.ContentPart(text="hi")])
    )


def _hot(request: router_pb2.ChatRequest) -> None:
    request.parameters.temperature = 5


def _http_image(request: router_pb2.ChatRequest) -> None:
    request.messages[0].parts.append(
        router_pb2.ContentPart(image=router_pb2.ImagePart(url="http://images.example.com/cat.png"))
    )


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (_no_messages, "a chat needs 1..1000 messages"),
        (_assistant_last, "the last message must be the user's"),
        (_hot, "temperature must be between 0 and 2"),
        (_http_image, "image urls must be https"),
    ],
    ids=["no-messages", "assistant-last", "temperature-5", "http-image-url"],
)
async def test_malformed_requests_are_refused_before_any_provider_call(
    router: RunningRouter,
    vault: KeyVaultClient,
    provider_sim: ProviderSimulator,
    mangle: Callable[[router_pb2.ChatRequest], None],
    message: str,
) -> None:
    key = await store_key(vault, "openai")
    request = chat_request(VISION["openai"].id, keys=[key])
    mangle(request)
    streamed, completed = await both(router, request)
    for error in (stream_error(streamed), complete_error(completed)):
        assert error.type == router_pb2.ERROR_TYPE_INVALID_REQUEST
        assert error.message == message
    assert provider_sim.calls == []


# --- 5. ListModels and VerifyCredential -----------------------------------------------------------


async def test_list_models_returns_the_whole_catalog(router: RunningRouter) -> None:
    async with router.channel() as channel:
        response = await router_pb2_grpc.RouterStub(channel).ListModels(
            router_pb2.ListModelsRequest(), timeout=10
        )
    models = list(response.models)
    assert len(models) >= 60
    assert [m.id for m in models] == [m.id for m in CATALOG.all()]
    assert len({m.id for m in models}) == len(models)
    assert {m.provider for m in models} == set(PROVIDERS)
    for model in models:
        assert model.id.startswith(f"{model.provider}/")
        assert model.provider_model
        assert model.display_name
        assert model.context_window > 0
        assert model.max_output_tokens > 0
        assert model.input_price_per_mtok >= 0
        assert model.output_price_per_mtok >= 0
        assert model.input_price_per_mtok + model.output_price_per_mtok > 0
        assert model.capabilities
        assert set(model.capabilities) <= CAPABILITIES
        entry = CATALOG.get(model.id)
        assert entry is not None
        assert model.context_window == entry.context_window
        assert set(model.capabilities) == entry.capabilities
        # Only the providers the router holds a platform key for are reachable without one's own key.
        assert model.platform_access == (model.provider in PLATFORM_KEYS)


async def verify(router: RunningRouter, key: StoredKey, provider: str) -> router_pb2.VerifyCredentialResponse:
    request = router_pb2.VerifyCredentialRequest(
        envelope=key.envelope, binding=binding_to_proto(key.binding), provider=provider
    )
    async with router.channel() as channel:
        return await router_pb2_grpc.RouterStub(channel).VerifyCredential(request, timeout=10)


async def test_verify_credential_verdicts(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    for provider in PROVIDERS:
        good = await store_key(vault, provider)
        valid = await verify(router, good, provider)
        assert valid.verdict == router_pb2.VERDICT_VALID, (provider, valid)
        (call,) = provider_sim.calls_for(provider)
        assert call.method == "GET"
        assert call.path.endswith("/models"), call.path
        assert call.api_key == good.secret

        bad = await store_key(vault, provider)
        provider_sim.set_valid_keys(provider, {good.secret})
        rejected = await verify(router, bad, provider)
        assert rejected.verdict == router_pb2.VERDICT_REJECTED, (provider, rejected)
        assert bad.secret not in rejected.message

        provider_sim.set_valid_keys(provider, None)
        provider_sim.fail_next(provider, 503, endpoint="models")
        down = await verify(router, good, provider)
        assert down.verdict == router_pb2.VERDICT_PROVIDER_UNREACHABLE, (provider, down)
        assert "503" in down.message
    assert provider_sim.violations == []


async def test_verify_credential_refuses_an_inconsistent_request(
    router: RunningRouter, vault: KeyVaultClient, provider_sim: ProviderSimulator
) -> None:
    key = await store_key(vault, "openai")
    for provider in ("anthropic", "nonesuch"):
        with pytest.raises(aio.AioRpcError) as info:
            await verify(router, key, provider)
        assert info.value.code() == StatusCode.INVALID_ARGUMENT
    assert provider_sim.calls == []


# --- protocol versions -------------------------------------------------------------------------------


def test_adapter_protocol_versions_match_the_official_sdks() -> None:
    assert anthropic_adapter.API_VERSION == anthropic._constants.ANTHROPIC_API_VERSION
    assert google_adapter.API_VERSION == google.genai._api_client.GOOGLE_AI_API_DEFAULT_VERSION
