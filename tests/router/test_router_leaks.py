"""A user's provider key goes to its provider and nowhere else: not to logs, not back to the client.

A canary key (``sk-canary-<hex>``, or a Google-style ``AIza<35 chars>``) is stored like any user
key and pushed through every path of the real router: streamed and unary success, every kind of
provider failure (401, 403, 429, 400, 500, a rejected key, first-byte timeout, stall, truncation,
a non-JSON body), a provider echoing the key in its error body in each wire format,
VerifyCredential, revocation, keyvault down. Then it must not appear, whole or as any 8-character
fragment (providers echo masked keys), in:

- the raw log records (caplog on the root logger at DEBUG, ahead of any redaction) and the
  router's configured JSON log handler (configure_logging, on stderr via capfd);
- anything the client gets back: every ChatEvent and CompleteResponse, error messages, gRPC status
  details, debug strings and metadata;
- any exception the router's provider adapters raised, with its cause and context chain;
- the router's own objects: its key cache's repr and stats, the server's repr;
- keyvault's audit log, and the events the router published on NATS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import string
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
from grpc import aio

from keyvault.server import KeyVaultServer
from router.catalog import load_catalog
from router.providers.base import Completion, ProviderAdapter, ProviderCall, StreamEnd, TextDelta
from router.server import RouterServer
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.events import CREDENTIALS_STREAM
from switchyard_common.logs import configure_logging
from switchyard_common.mtls import channel_credentials
from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import KeyVaultClient, binding_to_proto, keyvault_settings, started
from tests.support.keyvault import TestPki as Pki
from tests.support.nats_server import NatsServer
from tests.support.router import StoredKey, chat_request, publish_revoked, router_settings, store_key

CATALOG = load_catalog()
FRAGMENT = 8
SETTLE_SECONDS = 5.0
FIRST_BYTE_TIMEOUT = 1.0
STREAM_IDLE_TIMEOUT = 0.5
GOOGLE_KEY_ALPHABET = string.ascii_letters + string.digits + "-_"

E = router_pb2
# Each provider failure as the simulator scripts it, and the error type the client must see.
FAULTS: dict[str, tuple[dict[str, Any], int]] = {
    "401": ({"status": 401}, E.ERROR_TYPE_CREDENTIAL_REJECTED),
    "403": ({"status": 403}, E.ERROR_TYPE_CREDENTIAL_REJECTED),
    "429": ({"status": 429, "retry_after": "7"}, E.ERROR_TYPE_RATE_LIMITED),
    "400": ({"status": 400}, E.ERROR_TYPE_BAD_REQUEST),
    "500": ({"status": 500}, E.ERROR_TYPE_PROVIDER_UNAVAILABLE),
    "first byte timeout": ({"delay_first_byte": 10.0}, E.ERROR_TYPE_PROVIDER_UNAVAILABLE),
    "stall": ({"stall_after_events": 1}, E.ERROR_TYPE_PROVIDER_UNAVAILABLE),
    "truncation": ({"truncate_after_events": 2}, E.ERROR_TYPE_PROVIDER_UNAVAILABLE),
    "not JSON (200)": ({"not_json": True}, E.ERROR_TYPE_PROVIDER_UNAVAILABLE),
    "not JSON (502)": ({"not_json": True, "status": 502}, E.ERROR_TYPE_PROVIDER_UNAVAILABLE),
    # The provider puts the caller's key, unmasked, into its error message.
    "400 echoing the key": ({"status": 400, "echo_key": True}, E.ERROR_TYPE_BAD_REQUEST),
    "401 echoing the key": ({"status": 401, "echo_key": True}, E.ERROR_TYPE_CREDENTIAL_REJECTED),
    "403 echoing the key": ({"status": 403, "echo_key": True}, E.ERROR_TYPE_CREDENTIAL_REJECTED),
    "429 echoing the key": ({"status": 429, "echo_key": True}, E.ERROR_TYPE_RATE_LIMITED),
    "500 echoing the key": ({"status": 500, "echo_key": True}, E.ERROR_TYPE_PROVIDER_UNAVAILABLE),
    "422 echoing the key": ({"status": 422, "echo_key": True}, E.ERROR_TYPE_BAD_REQUEST),
}


def openai_style_canary() -> str:
    return "sk-canary-" + secrets.token_hex(20)


def google_style_canary() -> str:
    return "AIza" + "".join(secrets.choice(GOOGLE_KEY_ALPHABET) for _ in range(35))


CANARIES: dict[str, Callable[[], str]] = {
    "openai": openai_style_canary,
    "anthropic": openai_style_canary,
    "google": google_style_canary,
}


def fragments(secret: str) -> set[str]:
    return {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}


def model_for(provider: str) -> str:
    return CATALOG.for_provider(provider)[0].id


# --- logs: raw records and the router's own JSON handler -----------------------------------------


@dataclass
class Logs:
    caplog: pytest.LogCaptureFixture
    capfd: pytest.CaptureFixture[str]
    json_lines: list[str] = field(default_factory=list)
    other_output: str = ""

    def collect(self) -> None:
        out, err = self.capfd.readouterr()
        self.json_lines += [line for line in err.splitlines() if line.startswith("{")]
        self.other_output += out + err


@contextmanager
def router_logging(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[Logs]:
    """The router's production logging (its JSON handler on stderr) at DEBUG, with pytest's handler
    first on the root logger so it sees every record before the JSON handler's redacting filter
    rewrites it. Inside the test itself: capfd's stream is replaced between test phases."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()
    configure_logging("router", "DEBUG")
    root.handlers.insert(0, caplog.handler)
    logs = Logs(caplog=caplog, capfd=capfd)
    try:
        yield logs
    finally:
        logs.collect()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


# --- keyvault, router ---------------------------------------------------------------------------


class Vault:
    """keyvault in-process that the test stops itself, at most once (KeyVaultServer.stop is not
    idempotent: it closes the audit log's file descriptor)."""

    def __init__(self, server: KeyVaultServer, audit_path: Path) -> None:
        self.server: KeyVaultServer | None = server
        self.port = server.port
        self.audit_path = audit_path

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop(grace=0)


@pytest.fixture
async def vault_server(
    test_pki: Pki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[Vault]:
    audit_path = tmp_path / "audit.jsonl"
    settings = keyvault_settings(
        pki_=test_pki, keys_dir=keys_dir, nats_url=nats_server.url, audit_path=audit_path
    )
    vault = Vault(await started(settings), audit_path)
    yield vault
    await vault.stop()


@pytest.fixture
def sealer(vault_server: Vault, test_pki: Pki) -> KeyVaultClient:
    return KeyVaultClient(vault_server.port, test_pki)


class RecordingAdapter:
    """Delegates to the router's real adapter and keeps every exception it raised."""

    def __init__(self, inner: ProviderAdapter, raised: list[BaseException]) -> None:
        self.inner = inner
        self.name = inner.name
        self.raised = raised

    async def complete(self, call: ProviderCall, api_key: str) -> Completion:
        try:
            return await self.inner.complete(call, api_key)
        except Exception as exc:
            self.raised.append(exc)
            raise

    async def stream(self, call: ProviderCall, api_key: str) -> AsyncIterator[TextDelta | StreamEnd]:
        try:
            async with aclosing(self.inner.stream(call, api_key)) as items:  # type: ignore[type-var]
                async for item in items:
                    yield item
        except Exception as exc:
            self.raised.append(exc)
            raise

    async def verify(self, api_key: str) -> None:
        try:
            await self.inner.verify(api_key)
        except Exception as exc:
            self.raised.append(exc)
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Seen:
    """Everything observable outside the router that the canary must not be in."""

    texts: list[str] = field(default_factory=list)
    raised: list[BaseException] = field(default_factory=list)

    def add(self, *items: object) -> None:
        for item in items:
            if isinstance(item, bytes):
                self.texts.append(item.decode("latin-1"))
            else:
                self.texts.append(str(item))
                self.texts.append(repr(item))

    def message(self, message: Any) -> None:
        self.add(message, message.SerializeToString())

    async def call_status(self, call: Any) -> None:
        self.add(await call.code(), await call.details(), await call.initial_metadata())
        self.add(await call.trailing_metadata(), await call.debug_error_string())

    def rpc_error(self, error: aio.AioRpcError) -> None:
        self.add(error, error.code(), error.details(), error.debug_error_string())
        self.add(error.initial_metadata(), error.trailing_metadata())


@dataclass
class Harness:
    server: RouterServer
    stub: router_pb2_grpc.RouterAsyncStub
    seen: Seen

    async def chat(self, request: router_pb2.ChatRequest) -> list[router_pb2.ChatEvent]:
        call = self.stub.Chat(request, timeout=20)
        events = [event async for event in call]
        for event in events:
            self.seen.message(event)
        await self.seen.call_status(call)
        return events

    async def complete(self, request: router_pb2.ChatRequest) -> router_pb2.CompleteResponse:
        call = self.stub.Complete(request, timeout=20)
        response = await call
        self.seen.message(response)
        await self.seen.call_status(call)
        return response

    async def verify(self, key: StoredKey) -> router_pb2.VerifyCredentialResponse:
        request = router_pb2.VerifyCredentialRequest(
            envelope=key.envelope, binding=binding_to_proto(key.binding), provider=key.binding.provider
        )
        call = self.stub.VerifyCredential(request, timeout=20)
        try:
            response = await call
        except aio.AioRpcError as exc:
            self.seen.rpc_error(exc)
            self.seen.raised.append(exc)
            raise
        self.seen.message(response)
        await self.seen.call_status(call)
        return response


@pytest.fixture
async def harness(
    test_pki: Pki,
    vault_server: Vault,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
) -> AsyncIterator[Harness]:
    settings = router_settings(
        pki=test_pki,
        keyvault_port=vault_server.port,
        nats_url=nats_server.url,
        sim=provider_sim,
        first_byte_timeout_seconds=FIRST_BYTE_TIMEOUT,
        stream_idle_timeout_seconds=STREAM_IDLE_TIMEOUT,
    )
    server = RouterServer(settings)
    await server.start()
    seen = Seen()
    for name, adapter in list(server.adapters.items()):
        server.adapters[name] = RecordingAdapter(adapter, seen.raised)
    channel = aio.secure_channel(f"localhost:{server.port}", channel_credentials(test_pki.files["chat-api"]))
    try:
        yield Harness(server=server, stub=router_pb2_grpc.RouterStub(channel), seen=seen)
    finally:
        await channel.close(None)
        await server.stop(grace=0)


# --- helpers --------------------------------------------------------------------------------------


def error_of(events: list[router_pb2.ChatEvent]) -> router_pb2.Error | None:
    return next((event.error for event in events if event.HasField("error")), None)


def text_of(events: list[router_pb2.ChatEvent]) -> str:
    return "".join(event.text_delta for event in events if event.HasField("text_delta"))


def uses(sim: ProviderSimulator, secret: str) -> int:
    return sum(1 for call in sim.calls if call.api_key == secret)


async def stream_contents(nats_url: str) -> list[bytes]:
    """Every message on the credentials stream (revocations, and what the router reported)."""
    nc = await nats.connect(nats_url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream()
        info = await js.stream_info(CREDENTIALS_STREAM)
        return [
            (await js.get_msg(CREDENTIALS_STREAM, seq)).data or b""
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]
    finally:
        await nc.close()


def exception_texts(errors: list[BaseException]) -> list[str]:
    texts: list[str] = []
    for error in errors:
        texts += traceback.format_exception(error)  # the whole cause/context chain
        chain: BaseException | None = error
        while chain is not None:
            texts += [str(chain), repr(chain), repr(chain.args), repr(vars(chain))]
            chain = chain.__cause__ or chain.__context__
    return texts


# --- the test -------------------------------------------------------------------------------------


async def exercise_every_path(
    provider: str,
    canary: str,
    harness: Harness,
    sealer: KeyVaultClient,
    vault_server: Vault,
    nats_url: str,
    sim: ProviderSimulator,
) -> StoredKey:
    """Push the canary through every path; returns the stored key it was sealed under."""
    key = await store_key(sealer, provider, secret=canary)
    # The same secret under another credential, never used until keyvault is down.
    spare = await store_key(sealer, provider, secret=canary)
    request = chat_request(model_for(provider), "leak check", keys=[key])
    sent = 0

    # Success, streamed and unary.
    events = await harness.chat(request)
    assert error_of(events) is None
    assert text_of(events) == "echo: leak check"
    completed = await harness.complete(request)
    assert not completed.HasField("error")
    assert completed.text == "echo: leak check"
    sent += 2
    assert uses(sim, canary) == sent

    # Every failure, in both shapes.
    for name, (fault, error_type) in FAULTS.items():
        sim.fail_next(provider, **fault)
        error = error_of(await harness.chat(request))
        assert error is not None, name
        assert error.type == error_type, (name, error)
        sim.fail_next(provider, **fault)
        completed = await harness.complete(request)
        assert completed.error.type == error_type, (name, completed.error)
        sent += 2
        assert uses(sim, canary) == sent, f"{name}: the key did not reach the provider"

    # The provider rejects the key itself (Google: 400 with API_KEY_INVALID), echoing it.
    sim.set_valid_keys(provider, {"another-key"})
    sim.fail_next(provider, 401, echo_key=True, times=2)
    error = error_of(await harness.chat(request))
    assert error is not None
    assert error.type == E.ERROR_TYPE_CREDENTIAL_REJECTED
    assert (await harness.complete(request)).error.type == E.ERROR_TYPE_CREDENTIAL_REJECTED

    # VerifyCredential: rejected (echoing), unreachable (echoing), valid.
    assert (await harness.verify(key)).verdict == E.VERDICT_REJECTED
    sim.fail_next(provider, 401, echo_key=True, endpoint="models")
    assert (await harness.verify(key)).verdict == E.VERDICT_REJECTED
    sim.set_valid_keys(provider, None)
    sim.fail_next(provider, 500, echo_key=True, endpoint="models")
    assert (await harness.verify(key)).verdict == E.VERDICT_PROVIDER_UNREACHABLE
    assert (await harness.verify(key)).verdict == E.VERDICT_VALID
    sent += 6
    assert uses(sim, canary) == sent

    # Revoked: refused on the next chats, and by VerifyCredential.
    await publish_revoked(nats_url, key, reason="leak test")
    deadline = time.monotonic() + SETTLE_SECONDS
    while (error := error_of(await harness.chat(request))) is None:
        assert time.monotonic() < deadline, "revocation not applied"
        sent += 1
    assert error.type == E.ERROR_TYPE_CREDENTIAL_UNUSABLE
    completed = await harness.complete(request)
    assert completed.error.type == E.ERROR_TYPE_CREDENTIAL_UNUSABLE
    assert (await harness.verify(key)).verdict == E.VERDICT_REJECTED

    # keyvault down: a key not cached cannot be had.
    await vault_server.stop()
    spare_request = chat_request(model_for(provider), "leak check", keys=[spare])
    error = error_of(await harness.chat(spare_request))
    assert error is not None
    assert error.type == E.ERROR_TYPE_KEY_SERVICE_UNAVAILABLE
    completed = await harness.complete(spare_request)
    assert completed.error.type == E.ERROR_TYPE_KEY_SERVICE_UNAVAILABLE
    with pytest.raises(aio.AioRpcError) as info:
        await harness.verify(spare)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert uses(sim, canary) == sent
    return key


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_a_canary_key_never_leaks_on_any_path(
    provider: str,
    harness: Harness,
    sealer: KeyVaultClient,
    vault_server: Vault,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    canary = CANARIES[provider]()
    with router_logging(caplog, capfd) as logs:
        key = await exercise_every_path(
            provider, canary, harness, sealer, vault_server, nats_server.url, provider_sim
        )
        await asyncio.sleep(0)

    keys = harness.server.keys
    assert keys is not None
    seen = harness.seen
    assert any(isinstance(error, Exception) for error in seen.raised), "no adapter failure was observed"
    published = await stream_contents(nats_server.url)
    assert len(published) >= 2, "the router reports rejected keys and a revocation was published"
    audit = vault_server.audit_path.read_text()
    assert key.binding.credential_id in audit
    raw = caplog.get_records("setup") + caplog.get_records("call")
    assert any(r.name == "router.servicer" for r in raw), "no router log records were captured"
    assert any(json.loads(line)["logger"] == "router.servicer" for line in logs.json_lines)

    places: dict[str, list[str]] = {
        "raw log records": [caplog.text, *(r.getMessage() for r in raw), *(r.exc_text or "" for r in raw)],
        "JSON log output": logs.json_lines,
        "other process output": [logs.other_output],
        "what the client got back": seen.texts,
        "exceptions": exception_texts(seen.raised),
        "router objects": [repr(keys), str(keys), repr(keys.stats), repr(harness.server)],
        "keyvault audit log": [audit],
        "NATS events": [data.decode("latin-1") for data in published],
    }
    pieces = fragments(canary)
    for place, texts in places.items():
        for text in texts:
            assert canary not in text, f"the canary key leaked into {place}"
            leaked = sorted(piece for piece in pieces if piece in text)
            assert not leaked, f"fragments of the canary key leaked into {place}: {leaked}"
