from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import Binding, OwnerType, seal
from tests.conftest import RunningKeyVault
from tests.support.keyvault import stub


async def test_router_decrypts_what_chat_api_sealed(keyvault: RunningKeyVault) -> None:
    async with keyvault.channel("chat-api") as channel:
        public = await stub(channel).GetPublicKey(keyvault_pb2.GetPublicKeyRequest())
    key = serialization.load_pem_public_key(public.public_key_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    binding = Binding("cred-1", OwnerType.USER, "user-1", "openai")
    envelope = seal(b"sk-test-123", public_key=key, kid=public.kid, binding=binding)
    async with keyvault.channel("router") as channel:
        reply = await stub(channel).Decrypt(
            keyvault_pb2.DecryptRequest(
                envelope=envelope,
                binding=keyvault_pb2.Binding(
                    credential_id="cred-1",
                    owner_type=keyvault_pb2.OWNER_TYPE_USER,
                    owner_id="user-1",
                    provider="openai",
                ),
            )
        )
    assert reply.secret == b"sk-test-123"
