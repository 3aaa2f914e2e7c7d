"""One chat request, end to end: choose the model, resolve the access, get the key, call the provider.

Fallback onto platform access happens only after a 429 or provider outage on the caller's key,
only with that credential's opt-in and a policy that allows it, and the route says so.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from router.auto import NoReachableModel, choose_model
from router.catalog import Catalog, CatalogModel
from router.config import ProviderConfig
from router.keys import KeyCache
from router.keyvault_client import CredentialUnusable, KeyServiceMisconfigured, KeyServiceUnavailable
from router.providers.base import (
    BadRequest,
    Completion,
    CredentialRejected,
    ProviderAdapter,
    ProviderCall,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StreamEnd,
    TextDelta,
)
from router.requests import ChatJob
from router.resolution import Access, Candidate, NoAccess, may_fall_back, reachable_providers, resolve_access

__all__ = ["ErrorKind", "InvalidReporter", "RouteInfo", "Router", "RoutingError"]

logger = logging.getLogger(__name__)

InvalidReporter = Callable[[Candidate, int | None], Awaitable[None]]


class ErrorKind(enum.Enum):
    CREDENTIAL_REJECTED = "credential_rejected"
    RATE_LIMITED = "rate_limited"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    BAD_REQUEST = "bad_request"
    NO_ACCESS = "no_access"
    KEY_SERVICE_UNAVAILABLE = "key_service_unavailable"
    UNKNOWN_MODEL = "unknown_model"
    INVALID_REQUEST = "invalid_request"
    CREDENTIAL_UNUSABLE = "credential_unusable"


class RoutingError(Exception):
    def __init__(
        self, kind: ErrorKind, message: str, *, provider: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.provider = provider
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class RouteInfo:
    provider: str
    model_id: str
    source: str
    credential_id: str
    fell_back: bool = False
    auto_reason: str = ""
    # The provider is `make dev`'s demo provider, not the real one (whatever the key source).
    demo: bool = False


_WHOSE = {"user": "your", "org": "your organization's", "platform": "platform"}


class Router:
    def __init__(
        self,
        *,
        providers: Mapping[str, ProviderConfig],
        adapters: Mapping[str, ProviderAdapter],
        catalog: Catalog,
        keys: KeyCache,
        report_invalid: InvalidReporter,
        clock: Callable[[], datetime],
    ) -> None:
        self._providers = providers
        self._adapters = adapters
        self._catalog = catalog
        self._keys = keys
        self._report_invalid = report_invalid
        self._clock = clock
        self._platform = {name for name, config in providers.items() if config.platform_key is not None}
        self._demo = frozenset(name for name, config in providers.items() if config.demo)

    @property
    def platform_providers(self) -> frozenset[str]:
        """The providers the platform has its own key for."""
        return frozenset(self._platform)

    @property
    def demo_providers(self) -> frozenset[str]:
        """The providers `make dev`'s demo provider stands in for."""
        return self._demo

    def choose(self, job: ChatJob) -> tuple[CatalogModel, str]:
        """The catalog model to call and, for "auto", why it was chosen."""
        if job.model != "auto":
            model = self._catalog.get(job.model)
            if model is None:
                raise RoutingError(ErrorKind.UNKNOWN_MODEL, f"unknown model {job.model!r}")
            return model, ""
        reachable = reachable_providers(
            {name: config.display_name for name, config in self._providers.items()},
            candidates=job.candidates,
            policies=job.policies,
            platform_providers=self._platform,
            now=self._clock(),
        )
        try:
            choice = choose_model(job.messages, reachable, self._catalog)
        except NoReachableModel as exc:
            raise RoutingError(ErrorKind.NO_ACCESS, str(exc)) from None
        return choice.model, choice.reason

    def _display(self, provider: str) -> str:
        return self._providers[provider].display_name

    def _resolve(self, job: ChatJob, provider: str) -> Access:
        try:
            return resolve_access(
                provider,
                self._display(provider),
                candidates=job.candidates,
                policies=job.policies,
                platform_providers=self._platform,
                now=self._clock(),
            )
        except NoAccess as exc:
            raise RoutingError(ErrorKind.NO_ACCESS, exc.message, provider=provider) from None

    async def _key(self, access: Access, provider: str) -> str:
        if access.credential is None:
            platform_key = self._providers[provider].platform_key
            assert platform_key is not None, "resolve_access only picks platform for providers with a key"
            return platform_key.get_secret_value()
        try:
            return await self._keys.get(access.credential.binding, access.credential.envelope)
        except (KeyServiceUnavailable, KeyServiceMisconfigured):
            # Misconfiguration (wrong certificate or address) is logged by the client; the user
            # sees the same "key service unavailable" either way.
            raise RoutingError(
                ErrorKind.KEY_SERVICE_UNAVAILABLE,
                "key service unavailable: your stored key cannot be used right now; try again shortly",
                provider=provider,
            ) from None
        except CredentialUnusable:
            raise RoutingError(
                ErrorKind.CREDENTIAL_UNUSABLE,
                f"{_WHOSE[access.source]} stored {self._display(provider)} key can no longer be used",
                provider=provider,
            ) from None

    async def _provider_error(self, exc: ProviderError, access: Access) -> RoutingError:
        """Map a provider failure to what the user sees, reporting rejected stored keys."""
        name, whose = self._display(exc.provider), _WHOSE[access.source]
        if isinstance(exc, CredentialRejected):
            if access.credential is not None:
                await self._report_invalid(access.credential, exc.status)
                return RoutingError(
                    ErrorKind.CREDENTIAL_REJECTED,
                    f"{whose} {name} key was rejected by {name}",
                    provider=exc.provider,
                )
            return RoutingError(
                ErrorKind.CREDENTIAL_REJECTED,
                f"platform access to {name} was rejected",
                provider=exc.provider,
            )
        if isinstance(exc, RateLimited):
            return RoutingError(
                ErrorKind.RATE_LIMITED,
                f"{name} rate-limited {whose} key",
                provider=exc.provider,
                retry_after=exc.retry_after,
            )
        if isinstance(exc, BadRequest):
            return RoutingError(
                ErrorKind.BAD_REQUEST, f"{name} rejected the request: {exc.message}", provider=exc.provider
            )
        return RoutingError(
            ErrorKind.PROVIDER_UNAVAILABLE, f"{name} is unavailable: {exc.message}", provider=exc.provider
        )

    def _route(self, model: CatalogModel, access: Access, reason: str, fell_back: bool) -> RouteInfo:
        return RouteInfo(
            provider=model.provider,
            model_id=model.id,
            source=access.source,
            credential_id=access.credential.credential_id if access.credential else "",
            fell_back=fell_back,
            auto_reason=reason,
            demo=model.provider in self._demo,
        )

    def _fallback(self, exc: ProviderError, access: Access, job: ChatJob) -> Access | None:
        if isinstance(exc, RateLimited | ProviderUnavailable) and may_fall_back(
            access, policies=job.policies, platform_providers=self._platform
        ):
            logger.info(
                "request %s: %s failed (%s); falling back to platform access by opt-in",
                job.request_id,
                exc.provider,
                type(exc).__name__,
            )
            return Access("platform")
        return None

    async def complete(self, job: ChatJob) -> tuple[RouteInfo, Completion]:
        model, reason = self.choose(job)
        access = self._resolve(job, model.provider)
        call = ProviderCall(model.provider_model, job.messages, job.params)
        adapter = self._adapters[model.provider]
        try:
            return self._route(model, access, reason, False), await adapter.complete(
                call, await self._key(access, model.provider)
            )
        except ProviderError as exc:
            fallback = self._fallback(exc, access, job)
            if fallback is None:
                raise await self._provider_error(exc, access) from None
        try:
            completion = await adapter.complete(call, await self._key(fallback, model.provider))
        except ProviderError as exc:
            raise await self._provider_error(exc, fallback) from None
        return self._route(model, fallback, reason, True), completion

    async def _open(
        self, model: CatalogModel, access: Access, call: ProviderCall
    ) -> tuple[TextDelta | StreamEnd, AsyncIterator[TextDelta | StreamEnd]]:
        """Start the provider stream and wait for its first event, so a failure to start can
        still fall back before anything reached the client."""
        stream = self._adapters[model.provider].stream(call, await self._key(access, model.provider))
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            raise ProviderUnavailable(
                model.provider, "the provider closed the stream without a reply"
            ) from None
        return first, stream

    async def stream(self, job: ChatJob) -> AsyncIterator[RouteInfo | TextDelta | StreamEnd]:
        model, reason = self.choose(job)
        access = self._resolve(job, model.provider)
        call = ProviderCall(model.provider_model, job.messages, job.params)
        fell_back = False
        try:
            first, rest = await self._open(model, access, call)
        except ProviderError as exc:
            fallback = self._fallback(exc, access, job)
            if fallback is None:
                raise await self._provider_error(exc, access) from None
            access, fell_back = fallback, True
            try:
                first, rest = await self._open(model, access, call)
            except ProviderError as again:
                raise await self._provider_error(again, access) from None
        try:
            yield self._route(model, access, reason, fell_back)
            yield first
            async for item in rest:
                yield item
        except ProviderError as exc:
            raise await self._provider_error(exc, access) from None
        finally:
            await rest.aclose()  # type: ignore[attr-defined]
