"""The one path from a chat request to the router and back, shared by both chat endpoints.

`open_chat` leases the caller's keys, starts the router call and waits for its first event, so a
failure before anything streamed can still become an ordinary HTTP error; the lease is released at
that first event, whatever it is. `open_chat_for` does the same, reading the caller's org and quota
state in the lease's own thread hop and transaction. `ChatStream` then yields the answer and
`close()` stops the call and records usage: with the endpoint's own rows in one short transaction,
or, when it has none, through the batching UsageWriter.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import cast

import anyio
from sqlalchemy.orm import Session

from chat_api.chat.access import resolve_context
from chat_api.chat.answers import ChatInput, ChatItem, Delta, Failed, Finished, Route, route_of
from chat_api.chat.errors import problem_for
from chat_api.chat.routing import build_request, finish_reason, provider_of
from chat_api.core.observability import current_request_id
from chat_api.core.problems import Problem, ProviderUnavailable, UnknownModel
from chat_api.core.problems import RouterUnavailable as RouterUnavailableProblem
from chat_api.core.services import Services
from chat_api.credentials.leases import CredentialLease, lease_credentials, lease_in_session
from chat_api.upstream.router_client import RouterClient, RouterUnavailable
from chat_api.usage.pricing import cost_usd, find_model
from chat_api.usage.service import Completion, record_usage
from switchyard.router.v1 import router_pb2

__all__ = ["ChatAsk", "ChatStream", "open_chat", "open_chat_for"]

logger = logging.getLogger(__name__)

Events = AsyncGenerator[router_pb2.ChatEvent, None]
# An endpoint's own writes (its messages, its idempotency record), in the usage transaction.
ExtraWrites = Callable[[Session], None]


async def _shielded(function: Callable[[], object], *, limiter: anyio.CapacityLimiter | None = None) -> None:
    """Run blocking work in a thread to the end, even while the request is being cancelled."""
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(function, limiter=limiter)


async def _catalog(router: RouterClient) -> list[router_pb2.Model]:
    try:
        return await router.models()
    except RouterUnavailable:
        raise RouterUnavailableProblem("chat routing is unavailable right now; try again shortly") from None


async def _first_event(events: Events) -> router_pb2.ChatEvent:
    try:
        return await anext(events)
    except StopAsyncIteration:
        raise RouterUnavailableProblem("the router ended the call without an answer") from None
    except RouterUnavailable:
        raise RouterUnavailableProblem("chat routing is unavailable right now; try again shortly") from None


class ChatStream:
    """A routed chat: `items()` yields the answer; `close()` must follow, in a `finally`."""

    def __init__(
        self,
        *,
        services: Services,
        chat: ChatInput,
        route: Route,
        events: Events,
        catalog: Sequence[router_pb2.Model],
        started: float,
    ) -> None:
        self.route = route
        self.finished: Finished | None = None
        self.failed: Problem | None = None
        self._services = services
        self._chat = chat
        self._events = events
        self._model = find_model(catalog, route.model)
        self._started = started
        self._ended: float | None = None
        self._parts: list[str] = []
        self._closed = False

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def error_type(self) -> str | None:
        """The stable type of what broke the answer; "cancelled" when the client went away."""
        if self.failed is not None:
            return self.failed.slug
        return None if self.finished is not None else "cancelled"

    async def items(self) -> AsyncIterator[ChatItem]:
        """Text deltas, then one Finished or one Failed."""
        try:
            async for event in self._events:
                kind = event.WhichOneof("event")
                if kind == "text_delta":
                    self._parts.append(event.text_delta)
                    yield Delta(event.text_delta)
                elif kind == "finish":
                    self.finished = self._finished(event.finish)
                    break
                elif kind == "error":
                    self.failed = problem_for(event.error, quota_exceeded=self._chat.quota_exceeded)
                    break
            else:
                self.failed = ProviderUnavailable("the answer broke off before it was complete")
        except RouterUnavailable:
            self.failed = RouterUnavailableProblem("the connection to chat routing broke off mid-answer")
        self._ended = time.monotonic()
        if self.failed is not None:
            logger.info("chat via %s broke off: %s", self.route.provider, self.failed.slug)
            yield Failed(self.failed)
        elif self.finished is not None:
            yield self.finished

    def _finished(self, finish: router_pb2.Finish) -> Finished:
        tokens_in, tokens_out = finish.usage.input_tokens, finish.usage.output_tokens
        return Finished(
            reason=finish_reason(finish.reason),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost_usd(self._model, input_tokens=tokens_in, output_tokens=tokens_out),
        )

    async def close(self, *, extra: ExtraWrites | None = None) -> None:
        """Stop the router call and record usage; idempotent.

        Without `extra` the usage goes to the batching UsageWriter; with it, usage and `extra` are
        written together in one transaction before this returns.
        """
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._events.aclose()
        if extra is None:
            self._services.usage.submit(self._completion())
            return
        try:
            await _shielded(partial(self._record, extra))
        except Exception as exc:
            # The answer has already reached the client; a failed write must not turn it into an error.
            # Only the exception's type: its text may quote the chat's content from the SQL parameters.
            logger.error("recording the chat via %s failed: %s", self.route.provider, type(exc).__name__)

    def _completion(self) -> Completion:
        route, finished = self.route, self.finished
        ended = self._ended if self._ended is not None else time.monotonic()
        return Completion(
            user_id=self._chat.user_id,
            org_id=self._chat.org_id,
            provider=route.provider,
            model=route.model,
            key_source=route.key_source,
            credential_id=route.credential_id,
            input_tokens=finished.input_tokens if finished else 0,
            output_tokens=finished.output_tokens if finished else 0,
            cost_usd=finished.cost_usd if finished else Decimal(0),
            latency_ms=round((ended - self._started) * 1000),
            succeeded=finished is not None,
        )

    def _record(self, extra: ExtraWrites) -> None:
        with self._services.sessions() as db_session:
            record_usage(db_session=db_session, completion=self._completion())
            extra(db_session)
            db_session.commit()


async def _lease(services: Services, chat: ChatInput) -> CredentialLease:
    return await anyio.to_thread.run_sync(
        partial(
            lease_credentials,
            sessions=services.sessions,
            user_id=chat.user_id,
            org_id=chat.org_id,
            provider=provider_of(chat.model),
        )
    )


def _check_model(catalog: Sequence[router_pb2.Model], model: str) -> None:
    if model != "auto" and find_model(catalog, model) is None:
        raise UnknownModel(f"unknown model {model!r}; GET /v1/models lists the models")


async def open_chat(*, services: Services, chat: ChatInput) -> ChatStream:
    """Lease keys, call the router and wait for the route; a Problem if it fails before one."""
    catalog = await _catalog(services.router)
    _check_model(catalog, chat.model)
    started = time.monotonic()
    lease = await _lease(services, chat)
    return await _route(services, chat, lease, catalog, started)


@dataclass(frozen=True, slots=True)
class ChatAsk:
    """A chat whose org and quota state are still to be read (see `open_chat_for`)."""

    user_id: uuid.UUID
    requested_org: uuid.UUID | None
    model: str
    messages: Sequence[router_pb2.Message]
    parameters: router_pb2.Parameters


def _resolve_and_lease(
    services: Services, ask: ChatAsk, catalog: Sequence[router_pb2.Model]
) -> tuple[ChatInput, CredentialLease]:
    # One worker thread and one pooled connection: the context reads open the lease's transaction.
    unwritten = services.usage.unwritten_platform_tokens(ask.user_id)
    session = services.sessions()
    try:
        context = resolve_context(
            db_session=session,
            user_id=ask.user_id,
            requested_org=ask.requested_org,
            quota=services.settings.platform_monthly_token_quota,
            unwritten=unwritten,
        )
        _check_model(catalog, ask.model)
    except BaseException:
        session.close()
        raise
    chat = ChatInput(
        user_id=ask.user_id,
        org_id=context.org_id,
        model=ask.model,
        messages=ask.messages,
        parameters=ask.parameters,
        quota_exceeded=context.quota_exceeded,
    )
    lease = lease_in_session(
        session=session,
        user_id=chat.user_id,
        org_id=chat.org_id,
        provider=provider_of(chat.model),
    )
    return chat, lease


async def open_chat_for(*, services: Services, ask: ChatAsk) -> ChatStream:
    """`open_chat` that also resolves the org and quota, in the same thread and transaction as the lease."""
    catalog = await _catalog(services.router)
    started = time.monotonic()
    chat, lease = await anyio.to_thread.run_sync(partial(_resolve_and_lease, services, ask, catalog))
    return await _route(services, chat, lease, catalog, started)


async def _route(
    services: Services,
    chat: ChatInput,
    lease: CredentialLease,
    catalog: Sequence[router_pb2.Model],
    started: float,
) -> ChatStream:
    try:
        request = build_request(chat, lease, request_id=current_request_id())
        events = cast(Events, services.router.chat(request))
        try:
            first = await _first_event(events)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await events.aclose()
            raise
    finally:
        # The route (or error) means the provider call has started or never will: a DELETE may proceed.
        if lease.credentials:
            # Ends the locking transaction (a round trip), on threads kept for releases alone.
            await _shielded(lease.release, limiter=services.lease_releases)
        else:
            lease.release()  # nothing locked, no connection held: nothing to wait for

    if first.WhichOneof("event") == "route":
        route = route_of(first.route)
        return ChatStream(
            services=services, chat=chat, route=route, events=events, catalog=catalog, started=started
        )
    with anyio.CancelScope(shield=True):
        await events.aclose()
    if first.WhichOneof("event") == "error":
        problem = problem_for(first.error, quota_exceeded=chat.quota_exceeded)
        logger.info("chat for model %s failed before routing: %s", chat.model, problem.slug)
        raise problem
    raise RouterUnavailableProblem("the router answered out of order")
