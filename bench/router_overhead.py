"""`make bench-router`: what the router adds to a provider call, and how fast revocations reach it.

Starts real processes on loopback: NATS (JetStream), keyvault (audit to a file), the provider
simulator (`python -m switchyard_dev.provider_sim`, its own process so CPU is attributable) and three
routers (`python -m router`, mTLS, key cache on its default TTL). This process plays chat-api.
Every figure comes from the same run; nothing is asserted.

1. Overhead: the same OpenAI chat completion sent directly to the simulator with httpx (the exact
   request the router sends, checked against the simulator's record) and through router 1 over
   mTLS gRPC with a sealed user key (BYOK). Non-streaming: Complete vs POST latency. Streaming:
   time to the first Chat text_delta vs time to the first SSE content chunk. p50/p99 at concurrency
   1 and 32, direct and via-router runs alternating in halves (ABAB) so drift hits both alike. The
   direct baseline gives each request in flight its own httpx client; one shared client is timed
   too, as context (httpx's shared pool is slow at concurrency 32 on its own).
2. Router CPU per request: utime+stime of router 1 (/proc/<pid>/stat) over its measured windows.
3. Decrypts per request: keyvault audit lines with operation "decrypt" and outcome "ok" written
   during router 1's measured windows, per request.
4. Revocation propagation: per trial, a fresh credential is sealed and cached in each router by one
   chat; then one poller per router sends Complete with that envelope back to back (one in flight,
   at most every --poll-interval-ms), a CredentialRevoked is published to JetStream, and each poller
   stops at its first ERROR_TYPE_CREDENTIAL_UNUSABLE reply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import nats
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc import aio
from httpx_sse import EventSource
from processes import BenchError, Processes, interruptible
from procstats import CLOCK_TICKS, cpu_seconds  # bench/ is on sys.path: it is the script's folder
from router_stack import RouterStack, start_routers, start_services

from router.config import Settings as RouterSettings
from router.providers.http.client import USER_AGENT  # sent on the direct path too
from switchyard.events.v1 import credentials_pb2
from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.bindings import binding_message
from switchyard_common.envelope import Binding, OwnerType, seal
from switchyard_common.events import ensure_credentials_stream, publish_revocation
from switchyard_common.mtls import channel_credentials

if TYPE_CHECKING:
    from switchyard.router.v1.router_pb2_grpc import RouterAsyncStub

MODEL = "openai/gpt-4o-mini"  # catalog id; the router sends provider_model to the simulator
PROVIDER_MODEL = "gpt-4o-mini"
PROVIDER = "openai"
# Ten words: the simulator echoes them as an 11-token reply, one SSE chunk per token.
PROMPT = "Please summarise these meeting notes in three short plain points"
KEY_CACHE_TTL = float(RouterSettings.model_fields["key_cache_ttl_seconds"].default)  # left at its default
CALL_TIMEOUT = 30.0


# --- processes ---------------------------------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU seconds spent busy on all cores since boot (user+nice+system+irq+softirq+steal)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def start_stack(procs: Processes, work: Path, *, routers: int, bits: int) -> RouterStack:
    """The router stack, with this process (the client) accounted for before the routers."""
    stack = start_services(procs, work, bits=bits)
    stack.pids["client"] = os.getpid()
    start_routers(procs, stack, routers)
    return stack


# --- accounting --------------------------------------------------------------------------------------


def audit_decrypts(path: Path) -> int:
    """keyvault audit lines recording a successful Decrypt."""
    if not path.exists():
        return 0
    return sum(
        1
        for line in path.read_text().splitlines()
        if '"operation":"decrypt"' in line and '"outcome":"ok"' in line
    )


@dataclass
class Snapshot:
    wall: float
    cpu: dict[str, float]
    machine: float
    decrypts: int

    @classmethod
    def take(cls, stack: RouterStack) -> Snapshot:
        return cls(
            wall=time.perf_counter(),
            cpu={name: cpu_seconds(pid) for name, pid in stack.pids.items()},
            machine=machine_busy_seconds(),
            decrypts=audit_decrypts(stack.audit),
        )


@dataclass
class Tally:
    """Sums over measured windows: samples, wall time, CPU per process, machine CPU, Decrypts."""

    samples: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0
    decrypts: int = 0

    def add(self, start: Snapshot, end: Snapshot, samples: list[float]) -> None:
        self.samples.extend(samples)
        self.wall += end.wall - start.wall
        for name, seconds in end.cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds - start.cpu[name]
        self.machine += end.machine - start.machine
        self.decrypts += end.decrypts - start.decrypts

    @property
    def requests(self) -> int:
        return len(self.samples)

    def cpu_ms_per_request(self, name: str) -> float:
        return 1000 * self.cpu.get(name, 0.0) / self.requests

    def others_cores(self) -> float:
        """Average cores used by processes this bench did not start, over the windows."""
        return max(0.0, self.machine - sum(self.cpu.values())) / self.wall

    def merged(self, other: Tally) -> Tally:
        total = Tally(samples=[*self.samples, *other.samples], wall=self.wall + other.wall)
        for name in {*self.cpu, *other.cpu}:
            total.cpu[name] = self.cpu.get(name, 0.0) + other.cpu.get(name, 0.0)
        total.machine = self.machine + other.machine
        total.decrypts = self.decrypts + other.decrypts
        return total


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- the two paths -----------------------------------------------------------------------------------


def provider_client(base_url: str) -> httpx.AsyncClient:
    """Configured like the router's provider client (router.providers.http.client.make_client)."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(CALL_TIMEOUT),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        headers={"user-agent": USER_AGENT},
        follow_redirects=False,
    )


class Direct:
    """The request the router would send, straight to the simulator with httpx.

    By default every request in flight has an httpx client (so one keep-alive connection) of its
    own: the baseline is the provider's own latency, not the cost of sharing one httpx pool among
    32 concurrent requests, which at that concurrency is several times slower on its own (see
    encode/httpx#3215). `shared=True` sends everything through one client, as the router does.
    """

    def __init__(self, base_url: str, api_key: str, *, shared: bool = False) -> None:
        self._base_url = base_url
        self._shared = provider_client(base_url) if shared else None
        self._idle: list[httpx.AsyncClient] = []
        self._all: list[httpx.AsyncClient] = []
        self._headers = {"authorization": f"Bearer {api_key}", "accept": "application/json"}
        self._sse_headers = {**self._headers, "accept": "text/event-stream"}

    async def aclose(self) -> None:
        for client in [*self._all, *([self._shared] if self._shared else [])]:
            await client.aclose()

    @contextlib.contextmanager
    def _client(self) -> Iterator[httpx.AsyncClient]:
        if self._shared is not None:
            yield self._shared
            return
        if not self._idle:
            self._all.append(provider_client(self._base_url))
            self._idle.append(self._all[-1])
        client = self._idle.pop()
        try:
            yield client
        finally:
            self._idle.append(client)

    @staticmethod
    def body(*, stream: bool) -> dict[str, Any]:
        # router.providers.openai_compat: model, messages (text as a plain string), no unset
        # parameters; streaming adds stream and stream_options.include_usage.
        body: dict[str, Any] = {"model": PROVIDER_MODEL, "messages": [{"role": "user", "content": PROMPT}]}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def complete(self) -> float:
        with self._client() as client:
            start = time.perf_counter()
            response = await client.post(
                "/chat/completions", json=self.body(stream=False), headers=self._headers
            )
            payload = response.json()
            elapsed = time.perf_counter() - start
        if response.status_code != 200 or not payload["choices"][0]["message"]["content"]:
            raise BenchError(f"direct call failed: HTTP {response.status_code} {payload}")
        return elapsed

    async def first_token(self) -> float:
        with self._client() as client:
            start = time.perf_counter()
            first: float | None = None
            request = client.build_request(
                "POST", "/chat/completions", json=self.body(stream=True), headers=self._sse_headers
            )
            response = await client.send(request, stream=True)
            try:
                if response.status_code != 200:
                    raise BenchError(f"direct stream failed: HTTP {response.status_code}")
                async for event in EventSource(response).aiter_sse():
                    if event.data == "[DONE]":
                        break
                    chunk = json.loads(event.data)  # every chunk, as the router (and any client) does
                    choices = chunk.get("choices") or []
                    if first is None and choices and (choices[0].get("delta") or {}).get("content"):
                        first = time.perf_counter()
            finally:
                await response.aclose()
        if first is None:
            raise BenchError("direct stream had no content")
        return first - start


def credential_message(binding: Binding, envelope: bytes) -> router_pb2.Credential:
    return router_pb2.Credential(binding=binding_message(binding), envelope=envelope)


def chat_template(binding: Binding, envelope: bytes) -> router_pb2.ChatRequest:
    return router_pb2.ChatRequest(
        user_id=binding.owner_id,
        org_id="bench-org",
        model=MODEL,
        messages=[router_pb2.Message(role=router_pb2.ROLE_USER, parts=[router_pb2.ContentPart(text=PROMPT)])],
        credentials=[credential_message(binding, envelope)],
    )


def fresh(template: router_pb2.ChatRequest) -> router_pb2.ChatRequest:
    request = router_pb2.ChatRequest()
    request.CopyFrom(template)
    request.request_id = uuid.uuid4().hex
    return request


class ViaRouter:
    """The same chat as chat-api sends it: mTLS gRPC to the router, a sealed user key attached."""

    def __init__(self, stub: RouterAsyncStub, template: router_pb2.ChatRequest) -> None:
        self._stub = stub
        self._template = template

    async def complete(self) -> float:
        start = time.perf_counter()
        response = await self._stub.Complete(fresh(self._template), timeout=CALL_TIMEOUT)
        elapsed = time.perf_counter() - start
        if response.HasField("error") or not response.text:
            raise BenchError(f"Complete via router failed: {response.error}")
        return elapsed

    async def first_token(self) -> float:
        start = time.perf_counter()
        first: float | None = None
        async for event in self._stub.Chat(fresh(self._template), timeout=CALL_TIMEOUT):
            kind = event.WhichOneof("event")
            if kind == "error":
                raise BenchError(f"Chat via router failed: {event.error}")
            if kind == "text_delta" and first is None:
                first = time.perf_counter()
        if first is None:
            raise BenchError("Chat via router had no text")
        return first - start


async def run_load(op: Callable[[], Awaitable[float]], requests: int, concurrency: int) -> list[float]:
    """`requests` calls of `op` from `concurrency` workers; each returns its own measured seconds."""
    remaining = requests
    samples: list[float] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            samples.append(await op())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples


@dataclass
class Scenario:
    label: str
    concurrency: int
    paths: dict[str, Tally]  # "direct", "router" and, at concurrency > 1, "shared pool"

    @property
    def direct(self) -> Tally:
        return self.paths["direct"]

    @property
    def router(self) -> Tally:
        return self.paths["router"]


async def measure(
    stack: RouterStack,
    label: str,
    ops: Mapping[str, Callable[[], Awaitable[float]]],
    *,
    requests: int,
    concurrency: int,
    rounds: int = 2,
) -> Scenario:
    """Alternate the paths (ABAB... or ABCABC...), requests/rounds calls per path per round."""
    scenario = Scenario(label, concurrency, {name: Tally() for name in ops})
    per_round = math.ceil(requests / rounds)
    for _ in range(rounds):
        for name, op in ops.items():
            start = Snapshot.take(stack)
            samples = await run_load(op, per_round, concurrency)
            scenario.paths[name].add(start, Snapshot.take(stack), samples)
    return scenario


async def sim_command(client: httpx.AsyncClient, command: str, args: dict[str, Any] | None = None) -> Any:
    response = await client.post(f"/_sim/{command}", json=args or {})
    response.raise_for_status()
    return response.json()


async def same_request_check(sim: httpx.AsyncClient, direct: Direct, router: ViaRouter) -> list[str]:
    """Send one of each through both paths and compare what the simulator received."""
    await sim_command(sim, "reset")
    await router.complete()
    await direct.complete()
    await router.first_token()
    await direct.first_token()
    calls = (await sim.get("/_sim/calls")).json()["calls"]
    problems: list[str] = []
    for kind, (via, straight) in (("non-streaming", calls[0:2]), ("streaming", calls[2:4])):
        if via["json_body"] != straight["json_body"]:
            problems.append(
                f"{kind} body differs: router {via['json_body']} vs direct {straight['json_body']}"
            )
        if via["headers"] != straight["headers"]:
            problems.append(f"{kind} headers differ: router {via['headers']} vs direct {straight['headers']}")
    await sim_command(sim, "reset")
    return problems


# --- revocation --------------------------------------------------------------------------------------


@dataclass
class Propagation:
    """One router in one trial. Times are perf_counter seconds."""

    router: int
    published: float  # publish call started
    acked: float  # JetStream ack received
    last_accepted_sent: float  # the last poll that still got the key was sent at this time
    refused_sent: float  # the poll that was refused was sent at this time
    refused_received: float  # the first CREDENTIAL_UNUSABLE reply arrived
    polls: int

    @property
    def refused_round_trip(self) -> float:
        return self.refused_received - self.refused_sent

    @property
    def from_ack(self) -> float:
        return self.refused_received - self.acked

    @property
    def from_publish(self) -> float:
        return self.refused_received - self.published

    @property
    def resolution(self) -> float:
        """Width of the interval in which the router applied the revocation."""
        return self.refused_received - max(self.last_accepted_sent, self.published)


async def poll_until_refused(
    number: int,
    stub: RouterAsyncStub,
    template: router_pb2.ChatRequest,
    interval: float,
    *,
    accepted: asyncio.Event,
    stop: asyncio.Event,
) -> tuple[float, float, float, int]:
    """(last accepted poll's send time, refused poll's send and receive times, polls sent).
    `accepted` is set once a poll got the key; the revocation is published only after that."""
    last_accepted: float | None = None
    polls = 0
    while not stop.is_set():
        sent = time.perf_counter()
        response = await stub.Complete(fresh(template), timeout=CALL_TIMEOUT)
        received = time.perf_counter()
        polls += 1
        if response.HasField("error"):
            if response.error.type != router_pb2.ERROR_TYPE_CREDENTIAL_UNUSABLE:
                raise BenchError(f"router {number}: unexpected error while polling: {response.error}")
            if last_accepted is None:
                raise BenchError(f"router {number}: refused before any poll was accepted")
            return last_accepted, sent, received, polls
        last_accepted = sent
        accepted.set()
        pause = sent + interval - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
    raise BenchError(f"router {number}: stopped before the credential was refused")


async def revocation_trials(
    stack: RouterStack,
    stubs: list[RouterAsyncStub],
    public_key: rsa.RSAPublicKey,
    kid: int,
    *,
    trials: int,
    poll_interval: float,
) -> tuple[list[Propagation], int, int]:
    """Returns the propagations, Decrypts during polling (expect 0) and during cache warming."""
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    await ensure_credentials_stream(js, retention_days=400)
    results: list[Propagation] = []
    polling_decrypts = warming_decrypts = 0
    try:
        for trial in range(trials):
            binding = Binding(
                f"bench-revoke-{trial}-{uuid.uuid4().hex[:8]}", OwnerType.USER, "bench-user", PROVIDER
            )
            secret = f"sk-bench-revoke-{uuid.uuid4().hex}".encode()
            template = chat_template(binding, seal(secret, public_key=public_key, kid=kid, binding=binding))
            before = audit_decrypts(stack.audit)
            for number, reply in enumerate(
                await asyncio.gather(
                    *(stub.Complete(fresh(template), timeout=CALL_TIMEOUT) for stub in stubs)
                ),
                start=1,
            ):
                if reply.HasField("error"):
                    raise BenchError(f"router {number}: caching chat failed: {reply.error}")
            warmed = audit_decrypts(stack.audit)
            warming_decrypts += warmed - before
            stop = asyncio.Event()
            accepted = [asyncio.Event() for _ in stubs]
            pollers = [
                asyncio.create_task(
                    poll_until_refused(n, stub, template, poll_interval, accepted=ready, stop=stop)
                )
                for n, (stub, ready) in enumerate(zip(stubs, accepted, strict=True), start=1)
            ]
            try:
                # Every poller has had the key served from the cache; then publish at a random phase.
                all_ready = asyncio.ensure_future(asyncio.gather(*(ready.wait() for ready in accepted)))
                waiting: list[asyncio.Future[Any]] = [all_ready, *pollers]
                await asyncio.wait(waiting, timeout=10, return_when=asyncio.FIRST_COMPLETED)
                for task in pollers:
                    if task.done():
                        task.result()  # a poller failed before the publish: raise its error
                if not all_ready.done():
                    all_ready.cancel()
                    raise BenchError("the pollers were not served the cached key within 10 s")
                await asyncio.sleep(random.uniform(0, 0.005))
                event = credentials_pb2.CredentialRevoked(
                    event_id=uuid.uuid4().hex,
                    credential_id=binding.credential_id,
                    owner_type=keyvault_pb2.OWNER_TYPE_USER,
                    owner_id=binding.owner_id,
                    provider=PROVIDER,
                    reason="deleted",
                )
                published = time.perf_counter()
                await publish_revocation(js, event)
                acked = time.perf_counter()
                outcomes = await asyncio.wait_for(asyncio.gather(*pollers), timeout=10)
            finally:
                stop.set()
                for task in pollers:
                    task.cancel()
                await asyncio.gather(*pollers, return_exceptions=True)
            polling_decrypts += audit_decrypts(stack.audit) - warmed
            for number, (last_accepted, refused_sent, refused, polls) in enumerate(outcomes, start=1):
                results.append(
                    Propagation(number, published, acked, last_accepted, refused_sent, refused, polls)
                )
            await asyncio.sleep(0.02)
    finally:
        await nc.close()
    return results, polling_decrypts, warming_decrypts


# --- the run -----------------------------------------------------------------------------------------


@dataclass
class Figures:
    scenarios: list[Scenario]
    propagations: list[Propagation]
    polling_decrypts: int
    warming_decrypts: int
    body_problems: list[str]
    revocation_window: Tally
    router_warnings: list[str]
    run_seconds: float = 0.0


async def run(stack: RouterStack, args: argparse.Namespace) -> Figures:
    credentials = channel_credentials(stack.chat_api_tls)
    async with aio.secure_channel(f"localhost:{stack.keyvault_port}", credentials) as vault_channel:
        public = await keyvault_pb2_grpc.KeyVaultStub(vault_channel).GetPublicKey(
            keyvault_pb2.GetPublicKeyRequest()
        )
    public_key = serialization.load_pem_public_key(public.public_key_pem.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    binding = Binding("bench-credential", OwnerType.USER, "bench-user", PROVIDER)
    api_key = f"sk-bench-user-{uuid.uuid4().hex}"
    template = chat_template(
        binding, seal(api_key.encode(), public_key=public_key, kid=public.kid, binding=binding)
    )

    channels = [aio.secure_channel(f"localhost:{port}", credentials) for port in stack.router_ports]
    base_url = f"{stack.sim_url}/openai/v1"
    direct, shared = Direct(base_url, api_key), Direct(base_url, api_key, shared=True)
    try:
        async with httpx.AsyncClient(base_url=stack.sim_url, timeout=CALL_TIMEOUT) as sim:
            stubs: list[RouterAsyncStub] = [router_pb2_grpc.RouterStub(channel) for channel in channels]
            # Every router answers a BYOK chat (its key cache now holds the bench credential).
            for number, stub in enumerate(stubs, start=1):
                reply = await stub.Complete(fresh(template), timeout=CALL_TIMEOUT)
                if reply.HasField("error"):
                    raise BenchError(f"router {number}: warm-up chat failed: {reply.error}")
            router = ViaRouter(stubs[0], template)
            problems = await same_request_check(sim, direct, router)

            print(f"warm-up: {args.warmup} requests per path and mode at concurrency 32, 50 at 1", flush=True)
            for op in (direct.complete, router.complete, direct.first_token, router.first_token):
                await run_load(op, args.warmup, 32)
                await run_load(op, 50, 1)
            if args.shared_pool:
                await run_load(shared.complete, args.warmup, 32)

            scenarios: list[Scenario] = []
            for label, pace in (("complete", 0.0), ("stream", args.stream_pace_ms / 1000)):
                await sim_command(sim, "reset")
                if pace > 0:
                    fault = {"provider": PROVIDER, "paced_stream_interval": pace, "times": None}
                    await sim_command(sim, "fail_next", fault)
                for concurrency, requests in ((1, args.requests_c1), (32, args.requests_c32)):
                    mode = "non-streaming" if label == "complete" else "streaming"
                    print(f"measuring {mode} at concurrency {concurrency}", flush=True)
                    if label == "complete":
                        ops = {"direct": direct.complete, "router": router.complete}
                        if args.shared_pool and concurrency > 1:
                            ops["shared pool"] = shared.complete
                    else:
                        ops = {"direct": direct.first_token, "router": router.first_token}
                        if args.shared_pool and concurrency > 1:
                            ops["shared pool"] = shared.first_token
                    scenarios.append(
                        await measure(stack, label, ops, requests=requests, concurrency=concurrency)
                    )
            await sim_command(sim, "reset")

            print(
                f"measuring revocation propagation: {args.trials} trials x {len(stubs)} routers", flush=True
            )
            start = Snapshot.take(stack)
            propagations, polling_decrypts, warming_decrypts = await revocation_trials(
                stack,
                stubs,
                public_key,
                public.kid,
                trials=args.trials,
                poll_interval=args.poll_interval_ms / 1000,
            )
            revocation_window = Tally()
            revocation_window.add(start, Snapshot.take(stack), [])
    finally:
        await direct.aclose()
        await shared.aclose()
        for channel in channels:
            await channel.close(None)
    warnings = [line for watch in stack.watches for line in watch.warnings]  # before anything is stopped
    return Figures(
        scenarios, propagations, polling_decrypts, warming_decrypts, problems, revocation_window, warnings
    )


# --- report ------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def report_end(warnings: Sequence[str], run_seconds: float, *, during: str = "") -> None:
    """A report's last lines: the routers' warning/error lines (count, the last five), the run's length."""
    if warnings:
        print(f"router logs: {len(warnings)} warning/error lines{during}, the last ones:")
        for line in warnings[-5:]:
            print(f"  {line}")
    print(f"whole bench: {run_seconds:.0f} s")


def report(figures: Figures, stack: RouterStack, args: argparse.Namespace) -> None:
    cores = os.cpu_count() or 0
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "unknown CPU"
    )
    words = len(PROMPT.split())
    out = print
    out()
    out("Switchyard router overhead and revocation propagation (figures only; nothing is asserted)")
    out(f"machine: {cores} cores ({model}). The bench client, provider simulator, router(s), keyvault and")
    out(f"  NATS share these {cores} cores: client and simulator CPU competes with the router's. Loopback.")
    out(
        f"BYOK: every routed request carries one sealed user key ({MODEL}); key cache TTL {KEY_CACHE_TTL:g}s."
    )
    out(f"prompt: {words} words; reply: {words + 1} tokens, one SSE chunk per token.")
    if figures.body_problems:
        out("WARNING: the direct request is NOT what the router sends:")
        for problem in figures.body_problems:
            out(f"  {problem}")
    else:
        out("direct path: httpx, the body and headers the router sends (checked on the simulator's record).")
    out()

    titles = {
        "complete": "Non-streaming latency (ms): Complete via router vs POST /chat/completions direct",
        "stream": (
            "Streaming time to first token (ms): first Chat text_delta via router vs first SSE content\n"
            f"  chunk direct; the simulator paces stream events {args.stream_pace_ms:g} ms apart"
            " (both paths wait one pace)"
        ),
    }
    shown: set[str] = set()
    header = (
        f"  {'conc':>4}  {'path':<14} {'requests':>8} {'p50':>8} {'p99':>8} {'req/s':>7}"
        f"  {'router CPU':>10} {'sim CPU':>7} {'client CPU':>10}  (CPU: ms/request)"
    )

    def row(conc: object, name: str, tally: Tally, router_cpu: str = "-") -> None:
        p50, p99 = percentile(tally.samples, 50), percentile(tally.samples, 99)
        out(
            f"  {conc!s:>4}  {name:<14} {tally.requests:>8} {ms(p50)} {ms(p99)}"
            f" {tally.requests / tally.wall:7.0f}  {router_cpu:>10}"
            f" {tally.cpu_ms_per_request('simulator'):7.2f} {tally.cpu_ms_per_request('client'):10.2f}"
        )

    for scenario in figures.scenarios:
        if scenario.label not in shown:
            shown.add(scenario.label)
            out(titles[scenario.label])
            out(header)
        d, r = scenario.direct, scenario.router
        d50, d99, r50, r99 = (percentile(t.samples, p) for t in (d, r) for p in (50, 99))
        row(scenario.concurrency, "direct", d)
        row("", "via router", r, f"{r.cpu_ms_per_request('router 1'):.2f}")
        out(f"  {'':>4}  {'difference':<14} {'':>8} {ms(r50 - d50)} {ms(r99 - d99)}")
        out(f"  {'':>4}  {'ratio':<14} {'':>8} {r50 / d50:7.2f}x {r99 / d99:7.2f}x")
        if "shared pool" in scenario.paths:
            row("", "direct, 1 pool", scenario.paths["shared pool"])
    out("  direct: every request in flight has its own httpx client (one keep-alive connection).")
    out("  'direct, 1 pool' (context, not the baseline): one httpx.AsyncClient shared by all 32 requests,")
    out("  configured like the router's provider client. Its client CPU shows what sharing one httpx pool")
    out("  costs this bench's client (encode/httpx#3215), which is why the baseline does not share one.")
    out()

    routed = Tally()
    everything = Tally()
    for scenario in figures.scenarios:
        routed = routed.merged(scenario.router)
        for tally in scenario.paths.values():
            everything = everything.merged(tally)
    out("Router CPU per request: utime+stime of router 1 from /proc/<pid>/stat (10 ms ticks),")
    out("  summed over its measured windows, divided by the requests in them")
    for scenario in figures.scenarios:
        mode = "non-streaming" if scenario.label == "complete" else "streaming"
        r = scenario.router
        seconds = r.cpu["router 1"]
        out(
            f"  {mode:<13} c={scenario.concurrency:<3} {r.cpu_ms_per_request('router 1'):6.2f} ms/request"
            f"  ({seconds:.2f} s CPU / {r.requests} requests; {seconds / r.wall:.2f} cores busy)"
        )
    out(f"  {'all routed requests':<19} {routed.cpu_ms_per_request('router 1'):6.2f} ms/request")
    out()

    per_request = routed.decrypts / routed.requests
    out("Decrypts per request at steady state (BYOK, one user key, cached during warm-up)")
    out(
        f"  keyvault audit lines decrypt/ok written during router 1's windows: {routed.decrypts}"
        f" / {routed.requests} requests = {per_request:.5f}  (target <= 0.01)"
    )
    out(
        f"  the windows hold {routed.wall:.0f} s of routed traffic; with a {KEY_CACHE_TTL:g} s TTL each"
        f" credential in use costs one Decrypt per {KEY_CACHE_TTL:g} s"
    )
    out()

    props = figures.propagations
    routers = len(stack.router_ports)
    for line in (
        f"Revocation propagation to {routers} router processes (same NATS, keyvault), {args.trials} trials.",
        "  Per trial: seal a new credential, cache it in every router with one chat, start one poller per",
        "  router (Complete carrying that envelope, one in flight, sent at most every"
        f" {args.poll_interval_ms:g} ms),",
        "  publish CredentialRevoked to JetStream, stop each poller at its first CREDENTIAL_UNUSABLE reply.",
        "  'from publish ack': refusal received - JetStream ack received. It includes the refused poll's",
        "  round trip, so it is an upper bound on when the router applied the revocation.",
        "  'from publish call': the same, from the start of the publish call.",
        "  'poll resolution': refusal received - max(last accepted poll sent, publish call start); the",
        "  router applied the revocation inside that interval.",
        f"  {'':<28} {'p50':>8} {'p99':>8} {'max':>8}  (ms, {len(props)} router-trials)",
    ):
        out(line)
    for label, values in (
        ("from publish ack", [p.from_ack for p in props]),
        ("from publish call", [p.from_publish for p in props]),
        ("poll resolution", [p.resolution for p in props]),
        ("refused poll round trip", [p.refused_round_trip for p in props]),
        ("publish call -> ack", [p.acked - p.published for p in props[::routers]]),
    ):
        out(f"  {label:<28} {ms(percentile(values, 50))} {ms(percentile(values, 99))} {ms(max(values))}")
    for number in range(1, routers + 1):
        mine = [p.from_ack for p in props if p.router == number]
        label = f"router {number}, from ack"
        out(f"  {label:<28} {ms(percentile(mine, 50))} {ms(percentile(mine, 99))} {ms(max(mine))}")
    polls = sum(p.polls for p in props) / len(props)
    out(f"  target: p99 from publish ack <= 10 ms. {polls:.1f} polls per router per trial on average.")
    out(
        f"  Decrypts while polling: {figures.polling_decrypts} (polls hit the cache; refusals are local);"
        f" caching chats: {figures.warming_decrypts} ({figures.warming_decrypts / args.trials:.1f}/trial)"
    )
    out()
    out(
        "CPU noise: processes this bench did not start used, on average,"
        f" {everything.others_cores():.2f} of {cores} cores during the latency windows and"
        f" {figures.revocation_window.others_cores():.2f} during the revocation trials"
    )
    report_end(figures.router_warnings, figures.run_seconds, during=" while measuring")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests-c1", type=int, default=300, help="per path, at concurrency 1")
    parser.add_argument("--requests-c32", type=int, default=2000, help="per path, at concurrency 32")
    parser.add_argument("--warmup", type=int, default=300, help="per path and mode, before measuring")
    parser.add_argument(
        "--stream-pace-ms", type=float, default=2.0, help="simulator gap between stream events"
    )
    parser.add_argument("--trials", type=int, default=100, help="revocation trials")
    parser.add_argument("--poll-interval-ms", type=float, default=0.5)
    parser.add_argument("--routers", type=int, default=3)
    parser.add_argument(
        "--shared-pool",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the direct path through one shared httpx client at concurrency 32 (context row)",
    )
    parser.add_argument("--bits", type=int, default=3072, choices=(2048, 3072, 4096), help="keyvault RSA key")
    args = parser.parse_args()

    started = time.monotonic()
    procs = Processes()
    with interruptible(), tempfile.TemporaryDirectory(prefix="bench-router-") as tmp:
        try:
            print(f"starting NATS, keyvault, the provider simulator and {args.routers} routers", flush=True)
            stack = start_stack(procs, Path(tmp), routers=args.routers, bits=args.bits)
            figures = asyncio.run(run(stack, args))
        except KeyboardInterrupt:
            print("interrupted; stopping every process this bench started", file=sys.stderr)
            return 130
        finally:
            procs.stop_all()
    figures.run_seconds = time.monotonic() - started
    report(figures, stack, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
