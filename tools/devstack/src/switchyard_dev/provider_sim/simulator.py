"""The provider simulator: one HTTP server speaking every provider's real wire format, on loopback.

Every provider lives under its own path prefix, so one server stands in for all of them::

    async with ProviderSimulator() as sim:
        os.environ["ROUTER_OPENAI_BASE_URL"] = sim.base_url("openai")  # http://127.0.0.1:PORT/openai/v1
        ...
        assert sim.keys_seen("openai") == {"sk-test"}

See the package docstring for the endpoints, the deterministic replies and the fault knobs. This
module is the control surface tests use; a call goes through `_requests` (what it asked for),
`_faults` (what was scripted for it), `_replies` (the provider's answer) and `_delivery` (how the
answer is sent).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from switchyard_dev.provider_sim._accounts import Accounts
from switchyard_dev.provider_sim._delivery import Delivery
from switchyard_dev.provider_sim._faults import Fault, FaultScript
from switchyard_dev.provider_sim._providers import OPENAI_COMPATIBLE, PROVIDERS, check_provider
from switchyard_dev.provider_sim._remote import remote_control
from switchyard_dev.provider_sim._replies import answer
from switchyard_dev.provider_sim._requests import Endpoint, RecordedCall, key_in_url, read_call
from switchyard_dev.provider_sim._server import LoopbackServer
from switchyard_dev.provider_sim._traffic import Traffic

__all__ = ["ProviderSimulator"]


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
        self._accounts = Accounts(accepts_key)
        self._faults = FaultScript()
        self._traffic = Traffic()
        self._calls: deque[RecordedCall] = deque(maxlen=keep_calls)
        self._violations: list[str] = []
        self._ids = itertools.count(1)
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.app = Starlette(
            routes=[
                Route("/_sim/{command}", self._control, methods=["GET", "POST"]),
                Route("/{provider}/{rest:path}", self._handle, methods=methods),
            ]
        )
        self._server = LoopbackServer(self.app, host=host, port=port)

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._traffic.open()
        await self._server.start()

    async def stop(self) -> None:
        """Stop waiting replies (a stall or hold ends at once), then the server."""
        if not self._server.running:
            return
        self._traffic.close()
        await self._server.stop()

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
        if self._server.port is None:
            raise RuntimeError("the provider simulator has not been started")
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """What ``ROUTER_<PROVIDER>_BASE_URL`` (or the official SDK's ``base_url``) must be set to."""
        check_provider(provider)
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
        return self._traffic.in_flight

    @property
    def held(self) -> int:
        """Streams waiting at their `hold_after_events` point for `release_held`."""
        return self._traffic.held

    def release_held(self) -> int:
        """Let every held stream go on (how many there were); streams held later wait for the next call."""
        return self._traffic.release_held()

    @property
    def violations(self) -> list[str]:
        """Protocol misuse observed, e.g. an API key in a URL query string. Tests assert it stays empty."""
        return list(self._violations)

    def reset(self) -> None:
        """Forget calls and violations; clear faults, valid keys and model lists."""
        self._calls.clear()
        self._violations.clear()
        self._faults.clear()
        self._accounts.clear()

    # --- behaviour ---------------------------------------------------------------------------------

    def set_valid_keys(self, provider: str, keys: Iterable[str] | None) -> None:
        """Accept only `keys` for `provider` (others get its real auth error); None accepts any key."""
        self._accounts.set_valid_keys(provider, keys)

    def set_models(self, provider: str, model_ids: Iterable[str] | None) -> None:
        """What `provider`'s models endpoint lists; None restores the default list."""
        self._accounts.set_models(provider, model_ids)

    def models(self, provider: str) -> tuple[str, ...]:
        return self._accounts.models(provider)

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
        check_provider(provider)
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
        self._faults.add(provider, fault)
        return fault

    def clear_faults(self, provider: str | None = None) -> None:
        self._faults.clear(provider)

    # --- serving -----------------------------------------------------------------------------------

    async def _control(self, request: Request) -> JSONResponse:
        return await remote_control(self, request)

    async def _handle(self, request: Request) -> Delivery:
        """Record the call, take the fault scripted for it, and answer in the provider's format."""
        call, operation = await read_call(request)
        self._calls.append(call)
        self._violations.extend(key_in_url(call))
        fault = self._faults.take(call.provider, operation.endpoint)
        reply = answer(call, operation, fault, number=next(self._ids), accounts=self._accounts)
        call.status = reply.status
        return Delivery(reply, fault, call=call, traffic=self._traffic)
