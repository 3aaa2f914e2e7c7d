"""The provider simulator: one HTTP server speaking every provider's real wire format, on loopback.

Every provider lives under its own path prefix, so one server stands in for all of them::

    async with ProviderSimulator() as sim:
        os.environ["ROUTER_OPENAI_BASE_URL"] = sim.base_url("openai")  # http://127.0.0.1:PORT/openai/v1
        ...
        assert sim.keys_seen("openai") == {"sk-test"}

See the package docstring for the endpoints, the deterministic replies and the fault knobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from switchyard_dev.provider_sim import _anthropic, _google, _openai
from switchyard_dev.provider_sim._errors import Reason, auth_failure_status, html_page, render_error

OPENAI_COMPATIBLE: tuple[str, ...] = (
    "openai",
    "mistral",
    "groq",
    "deepseek",
    "xai",
    "together",
    "openrouter",
)
PROVIDERS: tuple[str, ...] = (*OPENAI_COMPATIBLE, "anthropic", "google")

Endpoint = Literal["generate", "models", "any"]

_KEY_QUERY_PARAMS = frozenset({"key", "api_key", "apikey", "access_token"})
_JSON = b"application/json"
_GOOGLE_JSON = b"application/json; charset=UTF-8"
_SSE = b"text/event-stream; charset=utf-8"


@dataclass(slots=True)
class RecordedCall:
    """One request as the simulator received it.

    `path` is the path the real provider would see (the simulator's ``/<provider>`` prefix removed),
    e.g. ``/v1/chat/completions``, ``/v1/messages``, ``/v1beta/models/gemini-2.5-flash:generateContent``.
    `headers` has lower-case names. `json_body` is None when the body was empty or not JSON.
    `api_key` is taken the way the provider authenticates: ``Authorization: Bearer`` (OpenAI-compatible),
    ``x-api-key`` or ``Authorization: Bearer`` (Anthropic; its 2.x SDK sends the latter),
    ``x-goog-api-key`` (Google; a ``key`` query parameter is also accepted, as
    Google does, but is recorded in `ProviderSimulator.violations`). `status` is the HTTP status the
    simulator answered; `stream` whether a streamed reply was asked for. `disconnected` becomes True
    when the client went away before the reply was complete; it is observed only while the simulator
    waits (`delay_first_byte`, `stall_after_events`, `paced_stream_interval`).
    """

    provider: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json_body: Any
    api_key: str | None
    started_at: float
    status: int | None = None
    stream: bool = False
    disconnected: bool = False
    client_port: int | None = None  # the caller's TCP port: equal ports mean a reused connection


@dataclass(slots=True)
class Fault:
    """A scripted misbehaviour; see `ProviderSimulator.fail_next`. `remaining` None means until cleared."""

    status: int | None = None
    message: str | None = None
    retry_after: str | None = None
    echo_key: bool = False
    delay_first_byte: float = 0.0
    stall_after_events: int | None = None
    truncate_after_events: int | None = None
    not_json: bool = False
    huge_body_bytes: int | None = None
    paced_stream_interval: float = 0.0
    hold_after_events: int | None = None
    endpoint: Endpoint = "generate"
    remaining: int | None = 1
    hits: int = 0

    @property
    def waits(self) -> bool:
        return (
            self.delay_first_byte > 0
            or self.stall_after_events is not None
            or self.paced_stream_interval > 0
            or self.hold_after_events is not None
        )


@dataclass(frozen=True, slots=True)
class _Op:
    kind: Literal["chat", "messages", "generate", "models", "model", "unknown"]
    model: str | None = None
    stream: bool = False
    sse: bool = True

    @property
    def endpoint(self) -> Endpoint | None:
        if self.kind in ("chat", "messages", "generate"):
            return "generate"
        if self.kind in ("models", "model"):
            return "models"
        return None


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the simulator runs inside someone else's process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _wait(stop: asyncio.Event, seconds: float | None) -> bool:
    """Sleep `seconds` (None: until `stop`); True when `stop` cut it short."""
    if stop.is_set():
        return True
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


async def _watch_disconnect(receive: Receive, stop: asyncio.Event, reply: _Reply) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not reply.complete and reply.call is not None:
                reply.call.disconnected = True
            stop.set()
            return


class _Reply:
    """An ASGI response that can misbehave: late first byte, stalls, truncation, pacing, holds."""

    __slots__ = ("body", "call", "complete", "fault", "frames", "headers", "sim", "status")

    def __init__(
        self,
        sim: ProviderSimulator,
        status: int,
        content_type: bytes,
        *,
        body: bytes = b"",
        frames: list[bytes] | None = None,
        headers: dict[str, str] | None = None,
        fault: Fault | None = None,
    ) -> None:
        self.sim = sim
        self.status = status
        self.body = body
        self.frames = frames
        self.fault = fault
        self.call: RecordedCall | None = None
        self.complete = False
        self.headers: list[tuple[bytes, bytes]] = [(b"content-type", content_type)]
        if frames is not None:
            self.headers.append((b"cache-control", b"no-cache"))
        for name, value in (headers or {}).items():
            self.headers.append((name.encode(), value.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.sim._in_flight += 1
        try:
            await self._respond(receive, send)
        finally:
            self.sim._in_flight -= 1

    async def _respond(self, receive: Receive, send: Send) -> None:
        fault = self.fault
        if fault is None or not (fault.waits or fault.truncate_after_events is not None):
            await self._send_all(send)
            return
        stop = asyncio.Event()
        if self.sim._closing:
            stop.set()
        self.sim._stops.add(stop)
        watcher = asyncio.create_task(_watch_disconnect(receive, stop, self)) if fault.waits else None
        try:
            if fault.delay_first_byte > 0 and await _wait(stop, fault.delay_first_byte):
                if self.sim._closing:
                    await self._send_all(send)
                return
            if self.frames is None:
                await self._send_body_faulty(send, fault, stop)
            else:
                await self._send_frames_faulty(send, fault, stop)
        finally:
            self.sim._stops.discard(stop)
            if watcher is not None:
                watcher.cancel()

    async def _start(self, send: Send, content_length: int | None) -> None:
        headers = self.headers
        if content_length is not None:
            headers = [*headers, (b"content-length", str(content_length).encode())]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})

    async def _finish(self, send: Send, body: bytes = b"") -> None:
        await send({"type": "http.response.body", "body": body, "more_body": False})
        self.complete = True

    async def _send_all(self, send: Send) -> None:
        if self.frames is None:
            await self._start(send, len(self.body))
            await self._finish(send, self.body)
            return
        await self._start(send, None)
        for frame in self.frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await self._finish(send)

    async def _send_body_faulty(self, send: Send, fault: Fault, stop: asyncio.Event) -> None:
        if fault.stall_after_events is not None:
            # Headers, then nothing until the client gives up (or the simulator stops).
            await self._start(send, None)
            await _wait(stop, None)
            if self.sim._closing:
                await self._finish(send, self.body)
            return
        await self._start(send, len(self.body))
        if fault.truncate_after_events is not None:
            # Half the promised body, then the connection closes.
            await send(
                {"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True}
            )
            return
        await self._finish(send, self.body)

    async def _send_frames_faulty(self, send: Send, fault: Fault, stop: asyncio.Event) -> None:
        assert self.frames is not None
        frames = self.frames
        limit = len(frames)
        if fault.truncate_after_events is not None:
            limit = min(limit, fault.truncate_after_events)
        if fault.stall_after_events is not None:
            limit = min(limit, fault.stall_after_events)
        await self._start(send, None)
        pace = fault.paced_stream_interval
        for i in range(limit):
            if i == fault.hold_after_events and await self.sim._hold(stop):
                if not self.sim._closing:
                    return
                break
            if i and pace > 0:
                # A plain sleep is cheaper than racing `stop` (this runs for every event of every paced
                # stream in load tests); a disconnect or shutdown is noticed within one interval.
                await asyncio.sleep(pace)
                if stop.is_set():
                    if not self.sim._closing:
                        return
                    break
            await send({"type": "http.response.body", "body": frames[i], "more_body": True})
        else:
            if fault.stall_after_events is not None:
                await _wait(stop, None)
                if not self.sim._closing:
                    return
        await self._finish(send)


class ProviderSimulator:
    """A loopback HTTP server impersonating OpenAI(-compatible), Anthropic and Google providers.

    Use as ``async with ProviderSimulator() as sim:`` or ``await sim.start()`` … ``await sim.stop()``;
    it runs as a task on the current event loop.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accepts_key: Callable[[str, str], bool] | None = None,
        keep_calls: int | None = None,
    ) -> None:
        """`accepts_key(provider, key)` refuses keys with the provider's real auth error (the demo's
        shape check); `keep_calls` bounds the recorded calls, for a long-running process."""
        self._host = host
        self._accepts_key = accepts_key
        self._requested_port = port
        self._port: int | None = None
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stops: set[asyncio.Event] = set()
        self._in_flight = 0
        self._release = asyncio.Event()  # replaced by each `release_held`
        self._held = 0
        self._calls: deque[RecordedCall] = deque(maxlen=keep_calls)
        self._violations: list[str] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._valid_keys: dict[str, frozenset[str]] = {}
        self._models: dict[str, tuple[str, ...]] = {}
        self._ids = itertools.count(1)
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.app = Starlette(
            routes=[
                Route("/_sim/{command}", self._control, methods=["GET", "POST"]),
                Route("/{provider}/{rest:path}", self._handle, methods=methods),
            ]
        )

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the provider simulator is already running")
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
        # without it every response (headers and body written separately) waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="none",
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=3,
            server_header=False,
        )
        self._closing = False
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="provider-simulator")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the provider simulator exited during startup")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._task is None or self._server is None:
            return
        self._closing = True
        for stop in list(self._stops):
            stop.set()
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
        except TimeoutError:
            self._server.force_exit = True
            await self._task
        finally:
            self._task = None
            self._server = None

    async def __aenter__(self) -> ProviderSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- addresses ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the provider simulator has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """What ``ROUTER_<PROVIDER>_BASE_URL`` (or the official SDK's ``base_url``) must be set to."""
        _check_provider(provider)
        if provider in OPENAI_COMPATIBLE:
            return f"{self.url}/{provider}/v1"
        return f"{self.url}/{provider}"

    def router_env(self) -> dict[str, str]:
        """``ROUTER_<PROVIDER>_BASE_URL`` for every provider."""
        return {f"ROUTER_{provider.upper()}_BASE_URL": self.base_url(provider) for provider in PROVIDERS}

    # --- recording ---------------------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        return list(self._calls)

    def calls_for(self, provider: str) -> list[RecordedCall]:
        return [call for call in self._calls if call.provider == provider]

    def keys_seen(self, provider: str) -> set[str]:
        return {
            call.api_key for call in self._calls if call.provider == provider and call.api_key is not None
        }

    @property
    def in_flight(self) -> int:
        """Responses being sent right now (a stalled or paced stream counts until it ends)."""
        return self._in_flight

    @property
    def held(self) -> int:
        """Streams waiting at their `hold_after_events` point for `release_held`."""
        return self._held

    def release_held(self) -> int:
        """Let every held stream go on (how many there were); streams held later wait for the next call."""
        held = self._held
        self._release.set()
        self._release = asyncio.Event()
        return held

    async def _hold(self, stop: asyncio.Event) -> bool:
        """Wait for `release_held`; True when `stop` (a disconnect, or shutdown) came first."""
        release = self._release
        self._held += 1
        waiters = [asyncio.ensure_future(release.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._held -= 1
            for waiter in waiters:
                waiter.cancel()
        return stop.is_set()

    @property
    def violations(self) -> list[str]:
        """Protocol misuse observed, e.g. an API key in a URL query string. Tests assert it stays empty."""
        return list(self._violations)

    def reset(self) -> None:
        """Forget calls and violations; clear faults, valid keys and model lists."""
        self._calls.clear()
        self._violations.clear()
        self._faults.clear()
        self._valid_keys.clear()
        self._models.clear()

    # --- behaviour ---------------------------------------------------------------------------------

    def set_valid_keys(self, provider: str, keys: Iterable[str] | None) -> None:
        """Accept only `keys` for `provider` (others get its real auth error); None accepts any key."""
        _check_provider(provider)
        if keys is None:
            self._valid_keys.pop(provider, None)
        else:
            self._valid_keys[provider] = frozenset(keys)

    def set_models(self, provider: str, model_ids: Iterable[str] | None) -> None:
        """What `provider`'s models endpoint lists; None restores the default list."""
        _check_provider(provider)
        if model_ids is None:
            self._models.pop(provider, None)
        else:
            self._models[provider] = tuple(model_ids)

    def models(self, provider: str) -> tuple[str, ...]:
        _check_provider(provider)
        if provider in self._models:
            return self._models[provider]
        if provider == "anthropic":
            return _anthropic.DEFAULT_MODELS
        if provider == "google":
            return _google.DEFAULT_MODELS
        return _openai.DEFAULT_MODELS[provider]

    def fail_next(
        self,
        provider: str,
        status: int | None = None,
        *,
        times: int | None = 1,
        message: str | None = None,
        retry_after: str | None = None,
        echo_key: bool = False,
        delay_first_byte: float = 0.0,
        stall_after_events: int | None = None,
        truncate_after_events: int | None = None,
        not_json: bool = False,
        huge_body_bytes: int | None = None,
        paced_stream_interval: float = 0.0,
        hold_after_events: int | None = None,
        endpoint: Endpoint = "generate",
    ) -> Fault:
        """Script the next `times` calls to `provider` (None: every call until `clear_faults`).

        Faults queue per provider, first in first out: each call takes the first queued fault whose
        `endpoint` matches it ("generate": chat/messages/generateContent; "models": the models
        endpoints; "any"), so a fault with ``times=None`` shadows later ones until cleared.

        - `status`: answer with the provider's real error body for that status (429, 400, 401, 403,
          500, 503, 529, …); `message` replaces its text; `retry_after` adds a ``retry-after`` header
          (Google: a ``RetryInfo.retryDelay`` of ``"<retry_after>s"`` in the body instead);
          `echo_key` puts the caller's key, unmasked, into the message (also for auth failures).
        - `delay_first_byte`: seconds before the response starts.
        - `stall_after_events`: a stream sends that many events then hangs until the client
          disconnects; a non-streamed reply sends its headers and then nothing.
        - `truncate_after_events`: a stream sends that many events then ends without its terminal
          event; a non-streamed reply sends half its body and drops the connection.
        - `not_json`: HTTP `status` (default 200) with an HTML page instead of JSON.
        - `huge_body_bytes`: the reply text (or, with `status`, the error message) is that many bytes.
        - `paced_stream_interval`: seconds between stream events.
        - `hold_after_events`: a stream sends that many events, then waits until `release_held()`
          (or the client disconnects) before the rest; `held` counts the streams waiting. Load tests
          use it to have every stream open at the same moment.
        """
        _check_provider(provider)
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for 'until cleared'")
        fault = Fault(
            status=status,
            message=message,
            retry_after=retry_after,
            echo_key=echo_key,
            delay_first_byte=delay_first_byte,
            stall_after_events=stall_after_events,
            truncate_after_events=truncate_after_events,
            not_json=not_json,
            huge_body_bytes=huge_body_bytes,
            paced_stream_interval=paced_stream_interval,
            hold_after_events=hold_after_events,
            endpoint=endpoint,
            remaining=times,
        )
        if fault == Fault(endpoint=endpoint, remaining=times):
            raise ValueError("fail_next needs a status or at least one fault knob")
        self._faults.setdefault(provider, deque()).append(fault)
        return fault

    def clear_faults(self, provider: str | None = None) -> None:
        if provider is None:
            self._faults.clear()
        else:
            self._faults.pop(provider, None)

    def _take_fault(self, provider: str, endpoint: Endpoint | None) -> Fault | None:
        queue = self._faults.get(provider)
        if not queue or endpoint is None:
            return None
        for index, fault in enumerate(queue):
            if fault.endpoint in ("any", endpoint):
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del queue[index]
                return fault
        return None

    # --- remote control (for a simulator in another process) -----------------------------------------

    async def _control(self, request: Request) -> JSONResponse:
        """``/_sim/...``: script a simulator running in another process (``python -m``, load tests).

        ``POST /_sim/fail_next`` with ``{"provider": ..., <fail_next keyword arguments>}``;
        ``POST /_sim/clear_faults`` with ``{"provider": ...}`` or ``{}``; ``POST /_sim/valid_keys``
        with ``{"provider": ..., "keys": [...] | null}``; ``POST /_sim/reset``;
        ``POST /_sim/release_held``; ``GET /_sim/calls``.
        """
        command = request.path_params["command"]
        args: Any = await request.json() if request.method == "POST" and await request.body() else {}
        if not isinstance(args, dict):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        try:
            if command == "fail_next" and request.method == "POST":
                fault = self.fail_next(**args)
                return JSONResponse({"fault": asdict(fault)})
            if command == "clear_faults" and request.method == "POST":
                self.clear_faults(args.get("provider"))
            elif command == "valid_keys" and request.method == "POST":
                self.set_valid_keys(args["provider"], args.get("keys"))
            elif command == "reset" and request.method == "POST":
                self.reset()
            elif command == "release_held" and request.method == "POST":
                return JSONResponse({"released": self.release_held()})
            elif command == "calls" and request.method == "GET":
                return JSONResponse(
                    {"calls": [asdict(call) for call in self._calls], "violations": self._violations}
                )
            else:
                return JSONResponse({"error": f"unknown command {request.method} {command}"}, status_code=404)
        except (TypeError, ValueError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    # --- request handling --------------------------------------------------------------------------

    async def _handle(self, request: Request) -> _Reply:
        provider: str = request.path_params["provider"]
        path = "/" + request.path_params["rest"]
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in request.scope["headers"]
        }
        query = dict(request.query_params)
        op = _operation(provider, request.method, path, body, query)
        call = RecordedCall(
            provider=provider,
            method=request.method,
            path=path,
            query=query,
            headers=headers,
            json_body=body,
            api_key=_api_key(provider, headers, query),
            started_at=time.monotonic(),
            stream=op.stream,
            client_port=request.client.port if request.client else None,
        )
        self._calls.append(call)
        for name in _KEY_QUERY_PARAMS.intersection(query):
            self._violations.append(
                f"{provider}: API key sent in the URL query parameter {name!r} ({request.method} {path})"
            )
        reply = self._reply(call, op, body, self._take_fault(provider, op.endpoint))
        reply.call = call
        call.status = reply.status
        return reply

    def _reply(self, call: RecordedCall, op: _Op, body: Any, fault: Fault | None) -> _Reply:
        provider = call.provider
        number = next(self._ids)
        request_id = f"req_sim{number:08d}"
        headers: dict[str, str] = {}
        if provider in OPENAI_COMPATIBLE:
            headers["x-request-id"] = request_id
        elif provider == "anthropic":
            headers["request-id"] = request_id
        echo_key = fault.echo_key if fault is not None else False

        def error(
            status: int,
            message: str | None = None,
            *,
            reason: Reason = "other",
            retry_after: str | None = None,
            param: str | None = None,
            code: str | None = None,
        ) -> _Reply:
            rendered = render_error(
                provider,
                status,
                message,
                reason=reason,
                api_key=call.api_key,
                echo_key=echo_key,
                retry_after=retry_after,
                param=param,
                code=code,
                request_id=request_id,
            )
            content_type = _GOOGLE_JSON if provider == "google" else _JSON
            return _Reply(
                self,
                rendered.status,
                content_type,
                body=_dumps(rendered.body),
                headers={**headers, **rendered.headers},
                fault=fault,
            )

        if provider not in PROVIDERS:
            return _Reply(
                self, 404, _JSON, body=_dumps({"error": f"unknown provider {provider!r}"}), fault=fault
            )
        if not call.api_key:
            return error(auth_failure_status(provider, "missing_key"), reason="missing_key")
        if provider == "anthropic" and "anthropic-version" not in call.headers:
            return error(400, "anthropic-version: header is required")
        valid = self._valid_keys.get(provider)
        refused = self._accepts_key is not None and not self._accepts_key(provider, call.api_key)
        if refused or (valid is not None and call.api_key not in valid):
            return error(auth_failure_status(provider, "invalid_key"), reason="invalid_key")
        if fault is not None and fault.not_json:
            status = fault.status or 200
            return _Reply(
                self,
                status,
                b"text/html; charset=utf-8",
                body=html_page(status),
                headers=headers,
                fault=fault,
            )
        if fault is not None and fault.status is not None:
            message = fault.message
            if fault.huge_body_bytes is not None:
                message = (message or "error") + " " + "x" * fault.huge_body_bytes
            return error(fault.status, message, retry_after=fault.retry_after)
        huge = fault.huge_body_bytes if fault is not None else None

        if op.kind == "models":
            ids = self.models(provider)
            if provider == "anthropic":
                listing = _anthropic.models_list(ids)
            elif provider == "google":
                listing = _google.models_list(ids)
            else:
                listing = _openai.models_list(provider, ids)
            return _Reply(self, 200, _JSON, body=_dumps(listing), headers=headers, fault=fault)
        if op.kind == "model":
            if op.model is None or op.model not in self.models(provider):
                return error(404, f"The model '{op.model}' does not exist")
            if provider == "anthropic":
                entry = _anthropic.model_entry(op.model)
            elif provider == "google":
                entry = _google.model_entry(op.model)
            else:
                entry = _openai.model_entry(provider, op.model)
            return _Reply(self, 200, _JSON, body=_dumps(entry), headers=headers, fault=fault)
        if op.kind == "unknown":
            return error(404, f"Unknown request URL: {call.method} {call.path}")

        model = op.model or ""
        if op.kind == "chat":
            problem = _openai.validate(body)
            if problem is not None:
                return error(400, problem[0], param=problem[1], code=problem[2])
            gen = _openai.generation(body, huge)
            model = str(body["model"])
            id_ = f"chatcmpl-sim{number:08d}"
            created = int(time.time())
            if op.stream:
                options = body.get("stream_options")
                include_usage = isinstance(options, dict) and options.get("include_usage") is True
                frames = _openai.stream_frames(
                    provider, model, gen, id_=id_, created=created, include_usage=include_usage
                )
                return _Reply(self, 200, _SSE, frames=frames, headers=headers, fault=fault)
            payload = _openai.completion(provider, model, gen, id_=id_, created=created)
            return _Reply(self, 200, _JSON, body=_dumps(payload), headers=headers, fault=fault)

        if op.kind == "messages":
            problem_text = _anthropic.validate(body)
            if problem_text is not None:
                return error(400, problem_text)
            gen = _anthropic.generation(body, huge)
            model = str(body["model"])
            id_ = f"msg_sim{number:08d}"
            if op.stream:
                frames = _anthropic.stream_frames(model, gen, id_=id_)
                return _Reply(
                    self,
                    200,
                    b"text/event-stream; charset=utf-8",
                    frames=frames,
                    headers=headers,
                    fault=fault,
                )
            return _Reply(
                self,
                200,
                _JSON,
                body=_dumps(_anthropic.message(model, gen, id_=id_)),
                headers=headers,
                fault=fault,
            )

        # Google generateContent / streamGenerateContent
        problem_text = _google.validate(body)
        if problem_text is not None:
            return error(400, problem_text)
        gen = _google.generation(body, huge)
        id_ = f"sim{number:08d}"
        if op.stream:
            chunks = _google.stream_chunks(model, gen, id_=id_)
            if op.sse:
                return _Reply(self, 200, b"text/event-stream", frames=_google.sse_frames(chunks), fault=fault)
            return _Reply(self, 200, _GOOGLE_JSON, frames=_google.json_array_frames(chunks), fault=fault)
        return _Reply(
            self, 200, _GOOGLE_JSON, body=_dumps(_google.response(model, gen, id_=id_)), fault=fault
        )


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _api_key(provider: str, headers: dict[str, str], query: dict[str, str]) -> str | None:
    if provider == "google":
        return headers.get("x-goog-api-key") or query.get("key")
    if provider == "anthropic" and headers.get("x-api-key"):
        return headers["x-api-key"]
    if provider in PROVIDERS:
        # OpenAI-compatible providers, and Anthropic too: its SDK (2.x) sends the key as a bearer token.
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def _operation(provider: str, method: str, path: str, body: Any, query: dict[str, str]) -> _Op:
    wants_stream = isinstance(body, dict) and body.get("stream") is True
    if provider in OPENAI_COMPATIBLE:
        if path == "/v1/chat/completions" and method == "POST":
            return _Op("chat", stream=wants_stream)
        if path == "/v1/models" and method == "GET":
            return _Op("models")
        if path.startswith("/v1/models/") and method == "GET":
            return _Op("model", model=path.removeprefix("/v1/models/"))
        return _Op("unknown")
    if provider == "anthropic":
        if path == "/v1/messages" and method == "POST":
            return _Op("messages", stream=wants_stream)
        if path == "/v1/models" and method == "GET":
            return _Op("models")
        if path.startswith("/v1/models/") and method == "GET":
            return _Op("model", model=path.removeprefix("/v1/models/"))
        return _Op("unknown")
    if provider == "google":
        version, _, rest = path.removeprefix("/").partition("/")
        if version not in ("v1beta", "v1") or not rest.startswith("models"):
            return _Op("unknown")
        if rest == "models" and method == "GET":
            return _Op("models")
        name, _, action = rest.removeprefix("models/").partition(":")
        if not name or "/" in name:
            return _Op("unknown")
        if not action and method == "GET":
            return _Op("model", model=name)
        if action in _google.ACTIONS and method == "POST":
            return _Op(
                "generate",
                model=name,
                stream=action == "streamGenerateContent",
                sse=query.get("alt") == "sse",
            )
    return _Op("unknown")
