from __future__ import annotations

from pathlib import Path

from switchyard_common.envelope import Binding, OwnerType
from tests.conftest import RunningKeyVault


async def test_router_decrypts_what_chat_api_sealed(keyvault: RunningKeyVault) -> None:
    client = keyvault.client(timeout=None)
    binding = Binding("cred-1", OwnerType.USER, "user-1", "openai")
    envelope = await client.seal(binding, secret=b"sk-test-123")
    reply = await client.decrypt(envelope, binding)
    assert reply.secret == b"sk-test-123"


async def test_stopping_twice_releases_each_resource_once(keyvault: RunningKeyVault, tmp_path: Path) -> None:
    await keyvault.server.stop(grace=0)
    # The audit file descriptor is closed once: a second stop must not close whatever reuses its number.
    with (tmp_path / "bystander").open("w") as bystander:
        await keyvault.server.stop(grace=0)
        bystander.write("still open")
