"""SpiffeAuthorizer wraps each method's handler once, and the cached wrapper still checks every call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
import pytest

from switchyard_common.authz import Allow, SpiffeAuthorizer, current_caller
from switchyard_dev import pki

if TYPE_CHECKING:
    from tests.support.keyvault import TestPki

METHOD = "/svc.Service/Method"


class Denied(Exception):
    pass


class Context:
    def __init__(self, pem: bytes | None) -> None:
        self._pem = pem

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self._pem]} if self._pem else {}

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Denied(code)


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


async def behaviour(request: object, context: object) -> str:
    return current_caller()


async def test_a_method_is_wrapped_once_and_every_call_is_still_checked(test_pki: TestPki) -> None:
    authorizer = SpiffeAuthorizer({METHOD: Allow(identities=frozenset({pki.spiffe_id("chat-api")}))})
    registered = grpc.unary_unary_rpc_method_handler(behaviour)

    async def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        return registered

    first: Any = await authorizer.intercept_service(continuation, Details(METHOD))
    second: Any = await authorizer.intercept_service(continuation, Details(METHOD))
    assert first is second

    chat_api = pki.issue(test_pki.ca, "unit", spiffe_ids=(pki.spiffe_id("chat-api"),)).cert_pem
    router = pki.issue(test_pki.ca, "unit", spiffe_ids=(pki.spiffe_id("router"),)).cert_pem
    assert await second.unary_unary(object(), Context(chat_api)) == pki.spiffe_id("chat-api")
    for denied in (Context(router), Context(None)):
        with pytest.raises(Denied):
            await second.unary_unary(object(), denied)


async def test_a_new_handler_for_the_same_method_is_wrapped_anew() -> None:
    authorizer = SpiffeAuthorizer({METHOD: Allow(any_authenticated=True)})

    async def fresh_handler(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(behaviour)

    first = await authorizer.intercept_service(fresh_handler, Details(METHOD))
    second = await authorizer.intercept_service(fresh_handler, Details(METHOD))
    assert first is not second
