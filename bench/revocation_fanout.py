"""`make bench-revocation`: DELETE → every router purged, Decrypts per chat, memory per open stream.

Starts real processes on loopback (bench/fanout_stack.py): NATS (JetStream), keyvault (audit to a
file), the provider simulator, three routers, one chat-api on router 1 and a PostgreSQL database
made for the run. This process is the user (HTTP to chat-api) and, for routers 2 and 3, chat-api's
stand-in (mTLS gRPC with chat-api's certificate and the envelope chat-api stored). Nothing is
asserted; every figure comes from this run.

1. Revocation fan-out, per trial: add an OpenAI key (POST /v1/keys), cache it in every router (one
   chat through chat-api for router 1, one Complete carrying the stored envelope for routers 2 and
   3), then DELETE /v1/keys/{id}. Timed from the DELETE being sent to its 204, and to each router's
   "credential purged" log line (stamped when this process reads it from the router's stderr pipe,
   so an upper bound; the router's own millisecond log time is shown as a cross-check). "Every
   router purged" is the latest of the three. References, interleaved with the trials on the same
   processes: GET /healthz on chat-api, and a bare JetStream publish → ordered-consumer delivery on
   the same nats-server.
2. Decrypts per chat at steady state: keyvault audit lines decrypt/ok during --chats chats through
   chat-api with one key already cached.
3. Memory per open stream: RSS (VmRSS) of chat-api and router 1 with --streams paced streams open
   through chat-api (opened --stream-ramp a second: 200 at once exhaust chat-api's database pool),
   minus the RSS before they opened, per stream; twice (the second round runs on memory the first
   one left allocated).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import nats
import psycopg
from fanout_stack import ChatApi, bench_database, database_server, start_fanout_stack
from grpc import aio
from nats.js.api import StorageType, StreamConfig
from processes import BenchError, Processes, interruptible
from procstats import cpu_seconds
from router_overhead import audit_decrypts, machine_busy_seconds, ms, percentile, report_end, sim_command
from router_stack import RouterStack

from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.bindings import binding_message
from switchyard_common.envelope import Binding, OwnerType
from switchyard_common.mtls import channel_credentials

if TYPE_CHECKING:
    from switchyard.router.v1.router_pb2_grpc import RouterAsyncStub

MODEL = "openai/gpt-4o-mini"
PROVIDER = "openai"
PROMPT = "Please summarise these meeting notes in three short plain points"
REFERENCE_STREAM, REFERENCE_SUBJECT = "BENCH_REFERENCE", "bench.reference"
PURGE_TIMEOUT = 10.0
HTTP_TIMEOUT = 60.0


def openai_key() -> str:
    """A fresh key of OpenAI's shape (chat-api checks shapes): sk-proj- and 48 characters."""
    return "sk-proj-" + secrets.token_hex(24)


# --- references ----------------------------------------------------------------------------------


class JetStreamReference:
    """A bare publish (awaiting JetStream's ack) → ordered push consumer delivery, on the bench's NATS."""

    def __init__(self) -> None:
        self._nc: Any = None
        self._waiting: dict[str, asyncio.Future[float]] = {}

    async def start(self, url: str) -> None:
        self._nc = await nats.connect(url)
        js = self._nc.jetstream()
        await js.add_stream(
            StreamConfig(name=REFERENCE_STREAM, subjects=[REFERENCE_SUBJECT], storage=StorageType.FILE)
        )
        await js.subscribe(REFERENCE_SUBJECT, cb=self._received, ordered_consumer=True)

    async def _received(self, msg: Any) -> None:
        received = time.perf_counter()
        future = self._waiting.pop(msg.data.decode(), None)
        if future is not None and not future.done():
            future.set_result(received)

    async def round_trip(self) -> float:
        token = uuid.uuid4().hex
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        sent = time.perf_counter()
        await self._nc.jetstream().publish(REFERENCE_SUBJECT, token.encode(), stream=REFERENCE_STREAM)
        return await asyncio.wait_for(future, timeout=PURGE_TIMEOUT) - sent

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()


# --- acting as the user and as chat-api -------------------------------------------------------------


@dataclass
class Client:
    http: httpx.AsyncClient
    headers: dict[str, str]
    db: psycopg.AsyncConnection[Any]
    stubs: list[RouterAsyncStub]  # routers 2..N, called directly

    async def add_key(self) -> str:
        body = {"provider": PROVIDER, "api_key": openai_key()}
        response = await self.http.post("/v1/keys", json=body, headers=self.headers)
        if response.status_code != 201:
            raise BenchError(f"adding a key: HTTP {response.status_code} {response.text}")
        key_id: str = response.json()["id"]
        return key_id

    async def chat(self) -> None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
        response = await self.http.post("/v1/chat/completions", json=body, headers=self.headers)
        if response.status_code != 200:
            raise BenchError(f"chat through chat-api: HTTP {response.status_code} {response.text}")

    async def chat_direct(self, key_id: str) -> None:
        """A Complete on every other router, carrying the envelope chat-api stored, as chat-api sends it."""
        cursor = await self.db.execute(
            "SELECT owner_id, envelope FROM credentials WHERE id = %s", (uuid.UUID(key_id),)
        )
        row = await cursor.fetchone()
        if row is None:
            raise BenchError(f"credential {key_id} is not in chat-api's database")
        owner_id, envelope = str(row[0]), bytes(row[1])
        request = router_pb2.ChatRequest(
            user_id=owner_id,
            model=MODEL,
            messages=[
                router_pb2.Message(role=router_pb2.ROLE_USER, parts=[router_pb2.ContentPart(text=PROMPT)])
            ],
            credentials=[
                router_pb2.Credential(
                    binding=binding_message(Binding(key_id, OwnerType.USER, owner_id, PROVIDER)),
                    envelope=envelope,
                )
            ],
        )
        for number, stub in enumerate(self.stubs, start=2):
            request.request_id = uuid.uuid4().hex
            reply = await stub.Complete(request, timeout=HTTP_TIMEOUT)
            if reply.HasField("error") or reply.route.key_source != router_pb2.KEY_SOURCE_USER:
                raise BenchError(f"router {number}: chat with the user's key failed: {reply.error}")


# --- 1. revocation fan-out -------------------------------------------------------------------------


@dataclass
class Trial:
    delete: float  # DELETE sent → 204 received, seconds
    purged: list[float]  # DELETE sent → router i's "credential purged" line read, seconds
    purged_logged: list[float]  # DELETE sent (wall clock) → router i's own log time (ms resolution)

    @property
    def everywhere(self) -> float:
        return max(self.purged)


@dataclass
class FanoutFigures:
    trials: list[Trial] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)
    jetstream: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    machine_cores: float = 0.0
    wall: float = 0.0
    caching_decrypts: int = 0


async def wait_purged(stack: RouterStack, key_id: str) -> None:
    deadline = time.monotonic() + PURGE_TIMEOUT
    while not all(key_id in watch.purges for watch in stack.watches):
        if time.monotonic() > deadline:
            missing = [n for n, w in enumerate(stack.watches, start=1) if key_id not in w.purges]
            raise BenchError(f"routers {missing} logged no purge of {key_id} within {PURGE_TIMEOUT:.0f}s")
        await asyncio.sleep(0.005)


async def one_trial(stack: RouterStack, client: Client) -> tuple[Trial, int]:
    """One add → cache everywhere → DELETE; returns the timings and the Decrypts caching cost."""
    key_id = await client.add_key()
    before = audit_decrypts(stack.audit)
    await client.chat()
    await client.chat_direct(key_id)
    caching = audit_decrypts(stack.audit) - before
    await asyncio.sleep(random.uniform(0.005, 0.015))  # the event loop idle, the routers' caches warm
    sent_wall, sent = time.time(), time.perf_counter()
    response = await client.http.delete(f"/v1/keys/{key_id}", headers=client.headers)
    answered = time.perf_counter()
    if response.status_code != 204:
        raise BenchError(f"DELETE: HTTP {response.status_code} {response.text}")
    await wait_purged(stack, key_id)
    purges = [watch.purges[key_id] for watch in stack.watches]
    trial = Trial(
        delete=answered - sent,
        purged=[p.received - sent for p in purges],
        purged_logged=[p.logged_wall - sent_wall for p in purges],
    )
    return trial, caching


async def fanout(stack: RouterStack, client: Client, trials: int) -> FanoutFigures:
    reference = JetStreamReference()
    await reference.start(stack.nats_url)
    figures = FanoutFigures()
    try:
        for _ in range(5):  # warm both references and one whole trial before anything counts
            await client.http.get("/healthz")
            await reference.round_trip()
        await one_trial(stack, client)
        cpu_start = {name: cpu_seconds(pid) for name, pid in stack.pids.items()}
        cpu_start["bench client"] = cpu_seconds(os.getpid())
        machine_start, wall_start = machine_busy_seconds(), time.perf_counter()
        for number in range(1, trials + 1):
            trial, caching = await one_trial(stack, client)
            figures.trials.append(trial)
            figures.caching_decrypts += caching
            for _ in range(2):
                started = time.perf_counter()
                await client.http.get("/healthz")
                figures.healthz.append(time.perf_counter() - started)
                figures.jetstream.append(await reference.round_trip())
            if number % 50 == 0:
                print(f"  {number}/{trials} trials", flush=True)
        figures.wall = time.perf_counter() - wall_start
        figures.machine_cores = (machine_busy_seconds() - machine_start) / figures.wall
        figures.cpu = {name: cpu_seconds(pid) - cpu_start[name] for name, pid in stack.pids.items()}
        figures.cpu["bench client"] = cpu_seconds(os.getpid()) - cpu_start["bench client"]
    finally:
        await reference.close()
    return figures


# --- 2. Decrypts per chat --------------------------------------------------------------------------


async def run_concurrently(op: Callable[[], Awaitable[None]], count: int, concurrency: int) -> None:
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await op()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass
class DecryptFigures:
    chats: int
    decrypts: int
    seconds: float
    warming_decrypts: int


async def steady_decrypts(stack: RouterStack, client: Client, chats: int) -> DecryptFigures:
    """One key, cached by a first chat; then `chats` chats at concurrency 8 through chat-api."""
    before = audit_decrypts(stack.audit)
    await client.chat()
    warmed = audit_decrypts(stack.audit)
    started = time.perf_counter()
    await run_concurrently(client.chat, chats, 8)
    seconds = time.perf_counter() - started
    return DecryptFigures(chats, audit_decrypts(stack.audit) - warmed, seconds, warmed - before)


# --- 3. memory per open stream ---------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


@dataclass
class MemoryRound:
    streams: int
    before: dict[str, int]  # KiB, nothing open
    during: dict[str, int]  # KiB, every stream open (median of samples)
    after: dict[str, int]  # KiB, every stream finished

    def per_stream(self, name: str) -> float:
        return (self.during[name] - self.before[name]) / self.streams


async def open_streams(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    count: int,
    words: int,
    ramp: float,
    measure: Callable[[], dict[str, int]],
) -> dict[str, int]:
    """Open `count` streams, `ramp` a second; while all are open, `measure` (median of 5); drain them."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": " ".join(["word"] * words)}],
        "stream": True,
    }
    open_now = 0
    all_open = asyncio.Event()

    async def stream(index: int) -> None:
        nonlocal open_now
        counted = False
        await asyncio.sleep(index / ramp)
        async with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
            if response.status_code != 200:
                raise BenchError(f"stream: HTTP {response.status_code} {(await response.aread())!r}")
            try:
                async for line in response.aiter_lines():
                    if not counted and line.startswith("data: {") and '"content"' in line:
                        counted = True
                        open_now += 1
                        if open_now == count:
                            all_open.set()
            finally:
                open_now -= counted
        if not counted:
            raise BenchError("a stream ended without content")

    tasks = [asyncio.create_task(stream(index)) for index in range(count)]
    try:
        await until_set(all_open, tasks, within=120)
        samples: list[dict[str, int]] = []
        for _ in range(5):
            samples.append(measure())
            await asyncio.sleep(0.2)
        if open_now != count:
            raise BenchError("streams ended while memory was measured: raise --stream-words")
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {name: int(statistics.median(s[name] for s in samples)) for name in samples[0]}


async def until_set(event: asyncio.Event, tasks: list[asyncio.Task[None]], *, within: float) -> None:
    """Wait for `event`, raising at once if a task fails, or if it has not happened in time."""
    waiter = asyncio.ensure_future(event.wait())
    running: set[asyncio.Future[Any]] = set(tasks)
    deadline = time.monotonic() + within
    try:
        while not event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"the streams were not all open at once within {within:.0f}s")
            done, _ = await asyncio.wait(
                {waiter, *running}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done - {waiter}:
                task.result()
                running.discard(task)
    finally:
        waiter.cancel()


async def stream_memory(
    stack: RouterStack,
    chat_api: ChatApi,
    client: Client,
    *,
    streams: int,
    words: int,
    pace: float,
    ramp: float,
    rounds: int = 2,
) -> list[MemoryRound]:
    watched = {"chat-api": stack.pids["chat-api"], "router 1": stack.pids["router 1"]}

    def measure() -> dict[str, int]:
        return {name: rss_kib(pid) for name, pid in watched.items()}

    async with httpx.AsyncClient(base_url=stack.sim_url, timeout=HTTP_TIMEOUT) as sim:
        await sim_command(
            sim, "fail_next", {"provider": PROVIDER, "paced_stream_interval": pace, "times": None}
        )
        results: list[MemoryRound] = []
        try:
            for number in range(1, rounds + 1):
                await asyncio.sleep(1.0)
                before = measure()
                print(f"  round {number}: opening {streams} streams", flush=True)
                # New connections each round: an idle keep-alive connection from before may be closed
                # by uvicorn (5 s keep-alive) just as a stream is sent on it.
                limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
                async with httpx.AsyncClient(
                    base_url=chat_api.url, timeout=HTTP_TIMEOUT, limits=limits
                ) as http:
                    during = await open_streams(
                        http, client.headers, count=streams, words=words, ramp=ramp, measure=measure
                    )
                await asyncio.sleep(1.0)
                results.append(MemoryRound(streams, before, during, measure()))
        finally:
            await sim_command(sim, "clear_faults", {"provider": PROVIDER})
    return results


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Figures:
    fanout: FanoutFigures
    decrypts: DecryptFigures
    memory: list[MemoryRound]
    warnings: list[str]
    run_seconds: float = 0.0


async def register(http: httpx.AsyncClient) -> dict[str, str]:
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    response = await http.post(
        "/v1/auth/register", json={"email": email, "password": secrets.token_urlsafe(16)}
    )
    if response.status_code != 201:
        raise BenchError(f"register: HTTP {response.status_code} {response.text}")
    return {"authorization": f"Bearer {response.json()['access_token']}"}


async def run(stack: RouterStack, chat_api: ChatApi, args: argparse.Namespace) -> Figures:
    credentials = channel_credentials(stack.chat_api_tls)
    channels = [aio.secure_channel(f"localhost:{port}", credentials) for port in stack.router_ports[1:]]
    try:
        async with (
            httpx.AsyncClient(base_url=chat_api.url, timeout=HTTP_TIMEOUT) as http,
            await psycopg.AsyncConnection.connect(chat_api.conninfo, autocommit=True) as db,
        ):
            client = Client(http, await register(http), db, [router_pb2_grpc.RouterStub(c) for c in channels])
            print(f"revocation fan-out: {args.trials} trials x {len(stack.router_ports)} routers", flush=True)
            fanout_figures = await fanout(stack, client, args.trials)
            print(f"Decrypts per chat: {args.chats} chats with one cached key", flush=True)
            await client.add_key()
            decrypt_figures = await steady_decrypts(stack, client, args.chats)
            print(f"memory per open stream: {args.streams} paced streams through chat-api", flush=True)
            memory = await stream_memory(
                stack,
                chat_api,
                client,
                streams=args.streams,
                words=args.stream_words,
                pace=args.stream_pace_ms / 1000,
                ramp=args.stream_ramp,
            )
    finally:
        for channel in channels:
            await channel.close(None)
    warnings = [line for watch in stack.watches for line in watch.warnings]
    return Figures(fanout_figures, decrypt_figures, memory, warnings)


# --- report ----------------------------------------------------------------------------------------


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "unknown")
    return f"{os.cpu_count()} cores ({model})"


def report_fanout(f: FanoutFigures, routers: int) -> None:
    out = print
    trials = f.trials
    delete = [t.delete for t in trials]
    everywhere = [t.everywhere for t in trials]
    after_answer = [t.everywhere - t.delete for t in trials]
    h50, h99 = percentile(f.healthz, 50), percentile(f.healthz, 99)
    j50, j99 = percentile(f.jetstream, 50), percentile(f.jetstream, 99)
    out(f"Revocation fan-out: {len(trials)} trials; chat-api on router 1, {routers} routers, one NATS")
    out("  per trial: add a key, cache it in every router, DELETE /v1/keys/{id}; times from the DELETE")
    out("  being sent. 'purged': the router's 'credential purged' log line read from its stderr pipe.")
    out(f"  {'':<40} {'p50':>8} {'p99':>8} {'max':>8}  (ms)")

    def row(label: str, values: list[float]) -> None:
        out(f"  {label:<40} {ms(percentile(values, 50))} {ms(percentile(values, 99))} {ms(max(values))}")

    row("DELETE sent -> 204", delete)
    row("DELETE sent -> every router purged", everywhere)
    for number in range(routers):
        row(f"DELETE sent -> router {number + 1} purged", [t.purged[number] for t in trials])
    row("  same, router log time (1 ms res.)", [max(t.purged_logged) for t in trials])
    row("204 -> every router purged", after_answer)
    out("  references, interleaved with the trials (2 of each per trial):")
    row("GET /healthz on chat-api", f.healthz)
    row("JetStream publish -> consumer delivery", f.jetstream)
    out("  ratios (p50, p99):")
    d50, d99 = percentile(delete, 50), percentile(delete, 99)
    e50, e99 = percentile(everywhere, 50), percentile(everywhere, 99)
    out(f"    DELETE -> 204 / GET /healthz:                     {d50 / h50:6.1f}x {d99 / h99:6.1f}x")
    out(f"    DELETE -> every router purged / GET /healthz:     {e50 / h50:6.1f}x {e99 / h99:6.1f}x")
    out(f"    DELETE -> every router purged / JetStream trip:   {e50 / j50:6.1f}x {e99 / j99:6.1f}x")
    out(f"    DELETE -> every router purged / DELETE -> 204:    {e50 / d50:6.2f}x {e99 / d99:6.2f}x")
    ours = sum(f.cpu.values()) / f.wall
    out(
        f"  CPU during the trials: this bench's processes {ours:.2f} cores, everything else"
        f" {max(0.0, f.machine_cores - ours):.2f}"
    )
    out("  (everything else: PostgreSQL, which serves this bench, and processes it did not start)")
    out(f"  Decrypts to cache each trial's key in {routers} routers: {f.caching_decrypts / len(trials):.2f}")


def report(figures: Figures, args: argparse.Namespace) -> None:
    out = print
    out()
    out("Switchyard revocation fan-out, Decrypts per chat and memory per stream (figures only)")
    out(f"machine: {machine()}; every process (bench client, PostgreSQL included) shares it. Loopback.")
    out()
    report_fanout(figures.fanout, args.routers)
    out()
    d = figures.decrypts
    out(f"Decrypts per chat at steady state: one key, cached by a first chat ({d.warming_decrypts} Decrypt)")
    out(
        f"  keyvault audit decrypt/ok during {d.chats} chats through chat-api ({d.seconds:.1f} s,"
        f" concurrency 8): {d.decrypts} = {d.decrypts / d.chats:.4f} per chat (target <= 0.01)"
    )
    out()
    out(
        f"Memory per open stream: {args.streams} streams open through chat-api at once (opened"
        f" {args.stream_ramp:g}/s), the simulator pacing {args.stream_pace_ms:g} ms between tokens"
    )
    out(
        f"  (a {args.stream_words}-word prompt, so ~{args.stream_words + 1} tokens each);"
        " VmRSS, median of 5 samples"
    )
    out(
        f"  {'round':<6} {'process':<9} {'before':>9} {'open':>9} {'after':>9} {'per stream':>11}"
        "  (MiB; per stream KiB)"
    )
    for number, rnd in enumerate(figures.memory, start=1):
        for name in rnd.before:
            out(
                f"  {number:<6} {name:<9} {rnd.before[name] / 1024:9.1f} {rnd.during[name] / 1024:9.1f}"
                f" {rnd.after[name] / 1024:9.1f} {rnd.per_stream(name):11.1f}"
            )
        both = sum(rnd.per_stream(name) for name in rnd.before)
        out(f"  {number:<6} {'both':<9} {'':>9} {'':>9} {'':>9} {both:11.1f}")
    out()
    report_end(figures.warnings, figures.run_seconds)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=200, help="revocation trials")
    parser.add_argument("--routers", type=int, default=3)
    parser.add_argument("--chats", type=int, default=500, help="chats for Decrypts per chat")
    parser.add_argument("--streams", type=int, default=200, help="streams open at once (router limit: 200)")
    parser.add_argument("--stream-pace-ms", type=float, default=250.0, help="simulator gap between tokens")
    parser.add_argument("--stream-words", type=int, default=60, help="prompt words = reply tokens - 1")
    parser.add_argument("--stream-ramp", type=float, default=40.0, help="streams opened per second")
    parser.add_argument("--bits", type=int, default=3072, choices=(2048, 3072, 4096), help="keyvault RSA key")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="PostgreSQL server (admin URL) to create the run's database on; default: an embedded one",
    )
    args = parser.parse_args()

    sys.setswitchinterval(0.0005)  # the purge readers are threads: let them stamp lines promptly
    started = time.monotonic()
    procs = Processes()
    with interruptible(), tempfile.TemporaryDirectory(prefix="bench-revocation-") as tmp:
        try:
            with (
                database_server(args.admin_url, Path(tmp)) as admin_url,
                bench_database(admin_url) as (conninfo, url),
            ):
                try:
                    print(
                        f"starting NATS, keyvault, the simulator, {args.routers} routers, chat-api",
                        flush=True,
                    )
                    stack, chat_api = start_fanout_stack(
                        procs,
                        Path(tmp),
                        routers=args.routers,
                        bits=args.bits,
                        database_url=url,
                        conninfo=conninfo,
                    )
                    try:
                        figures = asyncio.run(run(stack, chat_api, args))
                    except Exception:
                        lines = chat_api.log.read_text(errors="replace").splitlines()
                        print("chat-api's last log lines:", *lines[-30:], sep="\n", file=sys.stderr)
                        raise
                finally:
                    procs.stop_all()  # before the database is dropped
        except KeyboardInterrupt:
            print("interrupted; stopping every process this bench started", file=sys.stderr)
            return 130
    figures.run_seconds = time.monotonic() - started
    report(figures, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
