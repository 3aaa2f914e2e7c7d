"""GetSealingKey: the router relays keyvault's public key to chat-api (which has no path to keyvault),
and to nobody else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from grpc import aio

from switchyard.keyvault.v1 import keyvault_pb2
from switchyard.router.v1 import router_pb2_grpc
from tests.support.keyvault import KeyVaultClient
from tests.support.router import RunningRouter

if TYPE_CHECKING:
    from switchyard.router.v1.router_pb2_grpc import RouterAsyncStub


def der(pem: str) -> bytes:
    return load_pem_public_key(pem.encode()).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


async def test_chat_api_gets_keyvaults_current_public_key(
    router: RunningRouter, vault: KeyVaultClient
) -> None:
    kid, public_key = await vault.public_key()
    async with router.channel("chat-api") as channel:
        stub: RouterAsyncStub = router_pb2_grpc.RouterStub(channel)
        reply = await stub.GetSealingKey(keyvault_pb2.GetPublicKeyRequest(), timeout=5)
    assert reply.kid == kid
    assert der(reply.public_key_pem) == public_key.public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )


async def test_no_other_identity_may_ask(router: RunningRouter) -> None:
    async with router.channel("keyvault") as channel:
        stub: RouterAsyncStub = router_pb2_grpc.RouterStub(channel)
        with pytest.raises(aio.AioRpcError) as info:
            await stub.GetSealingKey(keyvault_pb2.GetPublicKeyRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
