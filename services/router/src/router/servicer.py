"""The Router gRPC methods: map requests to the domain and domain results back to messages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
from grpc import aio

from router.catalog import Catalog
from router.keys import KeyCache
from router.keyvault_client import (
    CredentialUnusable,
    KeyServiceMisconfigured,
    KeyServiceUnavailable,
    KeyVaultClient,
)
from router.providers.base import (
    Completion,
    CredentialRejected,
    ProviderAdapter,
    ProviderError,
    StreamEnd,
    TextDelta,
)
from router.requests import InvalidRequest, parse_chat_request
from router.routing import ErrorKind, RouteInfo, Router, RoutingError
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.bindings import OWNER_TYPES, binding_from_message
from switchyard_common.chat_vocabulary import FINISH_REASON_MESSAGES, KEY_SOURCE_MESSAGES

__all__ = ["RouterServicer"]

logger = logging.getLogger(__name__)

Context = aio.ServicerContext[object, object]

ERROR_TYPES = {
    ErrorKind.CREDENTIAL_REJECTED: router_pb2.ERROR_TYPE_CREDENTIAL_REJECTED,
    ErrorKind.RATE_LIMITED: router_pb2.ERROR_TYPE_RATE_LIMITED,
    ErrorKind.PROVIDER_UNAVAILABLE: router_pb2.ERROR_TYPE_PROVIDER_UNAVAILABLE,
    ErrorKind.BAD_REQUEST: router_pb2.ERROR_TYPE_BAD_REQUEST,
    ErrorKind.NO_ACCESS: router_pb2.ERROR_TYPE_NO_ACCESS,
    ErrorKind.KEY_SERVICE_UNAVAILABLE: router_pb2.ERROR_TYPE_KEY_SERVICE_UNAVAILABLE,
    ErrorKind.UNKNOWN_MODEL: router_pb2.ERROR_TYPE_UNKNOWN_MODEL,
    ErrorKind.INVALID_REQUEST: router_pb2.ERROR_TYPE_INVALID_REQUEST,
    ErrorKind.CREDENTIAL_UNUSABLE: router_pb2.ERROR_TYPE_CREDENTIAL_UNUSABLE,
}


def route_message(route: RouteInfo) -> router_pb2.Route:
    return router_pb2.Route(
        provider=route.provider,
        model=route.model_id,
        key_source=KEY_SOURCE_MESSAGES[route.source],
        credential_id=route.credential_id,
        fell_back=route.fell_back,
        auto_reason=route.auto_reason,
        demo=route.demo,
    )


def finish_message(end: StreamEnd | Completion) -> router_pb2.Finish:
    return router_pb2.Finish(
        usage=router_pb2.Usage(input_tokens=end.usage.input_tokens, output_tokens=end.usage.output_tokens),
        reason=FINISH_REASON_MESSAGES[end.finish_reason],
    )


def error_message(error: RoutingError) -> router_pb2.Error:
    return router_pb2.Error(
        type=ERROR_TYPES[error.kind],
        message=error.message,
        provider=error.provider,
        retry_after_seconds=error.retry_after or 0.0,
    )


class RouterServicer(router_pb2_grpc.RouterServicer):
    def __init__(
        self,
        *,
        router: Router,
        catalog: Catalog,
        adapters: dict[str, ProviderAdapter],
        keys: KeyCache,
        keyvault: KeyVaultClient,
    ) -> None:
        self._keyvault = keyvault
        self._router = router
        self._catalog = catalog
        self._adapters = adapters
        self._keys = keys

    async def Chat(
        self, request: router_pb2.ChatRequest, context: Context
    ) -> AsyncIterator[router_pb2.ChatEvent]:
        try:
            job = parse_chat_request(request)
            async for item in self._router.stream(job):
                if isinstance(item, RouteInfo):
                    yield router_pb2.ChatEvent(route=route_message(item))
                elif isinstance(item, TextDelta):
                    yield router_pb2.ChatEvent(text_delta=item.text)
                else:
                    yield router_pb2.ChatEvent(finish=finish_message(item))
        except InvalidRequest as exc:
            yield router_pb2.ChatEvent(error=error_message(RoutingError(ErrorKind.INVALID_REQUEST, str(exc))))
        except RoutingError as exc:
            logger.info("request %s failed: %s", request.request_id, exc.kind.value)
            yield router_pb2.ChatEvent(error=error_message(exc))

    async def Complete(
        self, request: router_pb2.ChatRequest, context: Context
    ) -> router_pb2.CompleteResponse:
        try:
            route, completion = await self._router.complete(parse_chat_request(request))
        except InvalidRequest as exc:
            return router_pb2.CompleteResponse(
                error=error_message(RoutingError(ErrorKind.INVALID_REQUEST, str(exc)))
            )
        except RoutingError as exc:
            logger.info("request %s failed: %s", request.request_id, exc.kind.value)
            return router_pb2.CompleteResponse(error=error_message(exc))
        return router_pb2.CompleteResponse(
            route=route_message(route), text=completion.text, finish=finish_message(completion)
        )

    async def ListModels(
        self, request: router_pb2.ListModelsRequest, context: Context
    ) -> router_pb2.ListModelsResponse:
        platform, demo = self._router.platform_providers, self._router.demo_providers
        return router_pb2.ListModelsResponse(
            models=[
                router_pb2.Model(
                    id=m.id,
                    provider=m.provider,
                    provider_model=m.provider_model,
                    display_name=m.display_name,
                    context_window=m.context_window,
                    max_output_tokens=m.max_output_tokens,
                    input_price_per_mtok=m.input_price_per_mtok,
                    output_price_per_mtok=m.output_price_per_mtok,
                    capabilities=sorted(m.capabilities),
                    platform_access=m.provider in platform,
                    demo=m.provider in demo,
                )
                for m in self._catalog.all()
            ]
        )

    async def VerifyCredential(
        self, request: router_pb2.VerifyCredentialRequest, context: Context
    ) -> router_pb2.VerifyCredentialResponse:
        adapter = self._adapters.get(request.provider)
        owner_known = request.binding.owner_type in OWNER_TYPES
        if adapter is None or not owner_known or request.binding.provider != request.provider:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown provider or inconsistent binding")
        try:
            binding = binding_from_message(request.binding)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            await adapter.verify(await self._keys.get(binding, request.envelope))
        except (KeyServiceUnavailable, KeyServiceMisconfigured):
            await context.abort(grpc.StatusCode.UNAVAILABLE, "key service unavailable")
        except CredentialUnusable:
            return router_pb2.VerifyCredentialResponse(
                verdict=router_pb2.VERDICT_REJECTED, message="the stored key can no longer be used"
            )
        except CredentialRejected:
            return router_pb2.VerifyCredentialResponse(
                verdict=router_pb2.VERDICT_REJECTED, message="the provider rejected this key"
            )
        except ProviderError as exc:
            return router_pb2.VerifyCredentialResponse(
                verdict=router_pb2.VERDICT_PROVIDER_UNREACHABLE, message=exc.message
            )
        if request.provider in self._router.demo_providers:
            # Honest about what was checked: the demo knows the key's shape, not the real provider.
            return router_pb2.VerifyCredentialResponse(
                verdict=router_pb2.VERDICT_VALID,
                message="the demo provider accepted the key (make dev: the real provider was not asked)",
            )
        return router_pb2.VerifyCredentialResponse(verdict=router_pb2.VERDICT_VALID, message="the key works")

    async def GetSealingKey(
        self, request: keyvault_pb2.GetPublicKeyRequest, context: Context
    ) -> keyvault_pb2.GetPublicKeyResponse:
        try:
            return await self._keyvault.public_key()
        except (KeyServiceUnavailable, KeyServiceMisconfigured, CredentialUnusable):
            await context.abort(grpc.StatusCode.UNAVAILABLE, "key service unavailable")
            raise AssertionError("abort raises") from None
