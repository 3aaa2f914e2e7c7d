from __future__ import annotations

from switchyard_common.envelope import Binding, OwnerType
from tests.conftest import RunningKeyVault


async def test_router_decrypts_what_chat_api_sealed(keyvault: RunningKeyVault) -> None:
    client = keyvault.client(timeout=None)
    binding = Binding("cred-1", OwnerType.USER, "user-1", "openai")
    envelope = await client.seal(binding, secret=b"sk-test-123")
    reply = await client.decrypt(envelope, binding)
    assert reply.secret == b"sk-test-123"
