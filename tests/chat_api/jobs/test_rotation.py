"""The key-rotation job against a real keyvault and PostgreSQL: every stored envelope moves to the
newest kid, still opens for the router under its own binding, and a second run changes nothing."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from chat_api.core.db import make_engine, make_sessionmaker
from chat_api.credentials.models import Credential
from chat_api.jobs.rotation import NotRotationIdentity, RotationReport, rotate
from keyvault.keys import generate_key
from switchyard.keyvault.v1 import keyvault_pb2_grpc
from switchyard_common.envelope import Binding, OwnerType, parse
from tests.conftest import RunningKeyVault
from tests.support.keyvault import UNIFORM, KeyVaultClient, dial, status_of

if TYPE_CHECKING:
    from switchyard.keyvault.v1.keyvault_pb2_grpc import KeyVaultAsyncStub
    from tests.support.keyvault import TestPki


@dataclass(frozen=True)
class Stored:
    id: uuid.UUID
    binding: Binding
    secret: bytes


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
async def as_rotation(keyvault: RunningKeyVault, test_pki: TestPki) -> AsyncIterator[KeyVaultAsyncStub]:
    """keyvault's stub as the key-rotation identity would hold it."""
    async with dial(keyvault.port, test_pki.files["key-rotation"]) as channel:
        yield keyvault_pb2_grpc.KeyVaultStub(channel)


async def store(
    sessions: sessionmaker[Session],
    vault: KeyVaultClient,
    *,
    owner_type: OwnerType = OwnerType.USER,
    provider: str = "openai",
    sealed_for: Binding | None = None,
) -> Stored:
    """A credential row sealed as chat-api seals it: with keyvault's current public key."""
    row_id, owner_id = uuid.uuid4(), uuid.uuid4()
    binding = Binding(str(row_id), owner_type, str(owner_id), provider)
    secret = f"sk-rotation-{row_id.hex}".encode()
    envelope = await vault.seal(sealed_for or binding, secret=secret)
    with sessions() as session:
        session.add(
            Credential(
                id=row_id,
                owner_type=owner_type.value,
                owner_id=owner_id,
                provider=provider,
                hint="sk-…" + row_id.hex[-4:],
                envelope=envelope,
            )
        )
        session.commit()
    return Stored(row_id, binding, secret)


def envelope_of(sessions: sessionmaker[Session], row_id: uuid.UUID) -> bytes:
    with sessions() as session:
        return session.scalars(select(Credential.envelope).where(Credential.id == row_id)).one()


def add_kid(keyvault: RunningKeyVault) -> int:
    kid = generate_key(keyvault.server.settings.keys_dir, bits=2048)
    keyvault.server.reload_keys()
    return kid


async def test_every_credential_moves_to_the_new_kid_and_still_opens_for_its_binding(
    sessions: sessionmaker[Session],
    vault: KeyVaultClient,
    keyvault: RunningKeyVault,
    as_rotation: KeyVaultAsyncStub,
) -> None:
    old = [
        await store(sessions, vault),
        await store(sessions, vault, provider="anthropic"),
        await store(sessions, vault, owner_type=OwnerType.ORG, provider="google"),
        await store(sessions, vault, owner_type=OwnerType.ORG),
        await store(sessions, vault, provider="mistral"),
    ]
    assert add_kid(keyvault) == 2
    # Sealed after the new kid arrived: already current, and left byte for byte as it is.
    current = await store(sessions, vault, provider="groq")
    current_envelope = envelope_of(sessions, current.id)

    report = await rotate(sessions=sessions, keyvault=as_rotation, batch_size=2, concurrency=3)

    assert report == RotationReport(target_kid=2, examined=6, rewrapped=5, already_current=1)
    assert envelope_of(sessions, current.id) == current_envelope
    # The old kid can now be retired: everything opens with kid 2 alone, under its own binding only.
    keyvault.server.reload_keys(min_kid=2)
    for stored in [*old, current]:
        envelope = envelope_of(sessions, stored.id)
        assert parse(envelope).kid == 2
        assert stored.secret not in envelope
        opened = await vault.decrypt(envelope, stored.binding)
        assert (opened.secret, opened.kid) == (stored.secret, 2)
    moved = Binding(str(uuid.uuid4()), old[0].binding.owner_type, old[0].binding.owner_id, "openai")
    assert status_of(await vault.decrypt_error(envelope_of(sessions, old[0].id), moved)) == UNIFORM


async def test_a_second_run_changes_nothing(
    sessions: sessionmaker[Session],
    vault: KeyVaultClient,
    keyvault: RunningKeyVault,
    as_rotation: KeyVaultAsyncStub,
) -> None:
    rows = [await store(sessions, vault) for _ in range(3)]
    add_kid(keyvault)
    first = await rotate(sessions=sessions, keyvault=as_rotation)
    assert (first.rewrapped, first.already_current) == (3, 0)
    envelopes = [envelope_of(sessions, row.id) for row in rows]

    second = await rotate(sessions=sessions, keyvault=as_rotation)

    assert second == RotationReport(target_kid=2, examined=3, rewrapped=0, already_current=3)
    assert [envelope_of(sessions, row.id) for row in rows] == envelopes


async def test_keys_being_revoked_or_unopenable_are_left_alone_and_reported(
    sessions: sessionmaker[Session],
    vault: KeyVaultClient,
    keyvault: RunningKeyVault,
    as_rotation: KeyVaultAsyncStub,
) -> None:
    fine = await store(sessions, vault)
    revoking = await store(sessions, vault)
    with sessions() as session:
        session.execute(
            update(Credential).where(Credential.id == revoking.id).values(revoking_at=datetime.now(UTC))
        )
        session.commit()
    # An envelope sealed for another credential: keyvault opens it for nobody else's binding.
    stranger = Binding(str(uuid.uuid4()), OwnerType.USER, str(uuid.uuid4()), "openai")
    misbound = await store(sessions, vault, sealed_for=stranger)
    before = {row.id: envelope_of(sessions, row.id) for row in (revoking, misbound)}
    add_kid(keyvault)

    report = await rotate(sessions=sessions, keyvault=as_rotation)

    assert report == RotationReport(
        target_kid=2, examined=3, rewrapped=1, skipped=1, refused=[str(misbound.id)]
    )
    assert parse(envelope_of(sessions, fine.id)).kid == 2
    assert {row_id: envelope_of(sessions, row_id) for row_id in before} == before


class ReplacesTheKeyMidway:
    """A keyvault stub that lets the owner replace the key while its Rewrap is in flight."""

    def __init__(self, inner: KeyVaultAsyncStub, sessions: sessionmaker[Session], row_id: uuid.UUID) -> None:
        self._inner = inner
        self._sessions = sessions
        self._row_id = row_id
        self.GetPublicKey = inner.GetPublicKey

    async def Rewrap(self, request: Any, **kwargs: Any) -> Any:
        reply = await self._inner.Rewrap(request, **kwargs)
        with self._sessions() as session:
            session.execute(
                update(Credential)
                .where(Credential.id == self._row_id)
                .values(envelope=b"replaced by the owner")
            )
            session.commit()
        return reply


async def test_a_key_replaced_while_it_is_rewrapped_is_not_overwritten(
    sessions: sessionmaker[Session],
    vault: KeyVaultClient,
    keyvault: RunningKeyVault,
    as_rotation: KeyVaultAsyncStub,
) -> None:
    row = await store(sessions, vault)
    add_kid(keyvault)
    racing: Any = ReplacesTheKeyMidway(as_rotation, sessions, row.id)

    report = await rotate(sessions=sessions, keyvault=racing)

    assert (report.rewrapped, report.skipped) == (0, 1)
    assert envelope_of(sessions, row.id) == b"replaced by the owner"


async def test_any_identity_but_key_rotation_is_refused(
    sessions: sessionmaker[Session], vault: KeyVaultClient, keyvault: RunningKeyVault, test_pki: TestPki
) -> None:
    row = await store(sessions, vault)
    add_kid(keyvault)
    async with dial(keyvault.port, test_pki.files["chat-api"]) as channel:
        with pytest.raises(NotRotationIdentity, match="PERMISSION_DENIED"):
            await rotate(sessions=sessions, keyvault=keyvault_pb2_grpc.KeyVaultStub(channel))
    assert parse(envelope_of(sessions, row.id)).kid == 1


async def test_the_job_entry_point_rotates_and_never_prints_a_key(
    sessions: sessionmaker[Session],
    vault: KeyVaultClient,
    keyvault: RunningKeyVault,
    test_pki: TestPki,
    database_url: str,
) -> None:
    rows = [await store(sessions, vault) for _ in range(2)]
    add_kid(keyvault)
    files = test_pki.files["key-rotation"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEY_ROTATION_")},
        "KEY_ROTATION_DATABASE_URL": database_url,
        "KEY_ROTATION_KEYVAULT_ADDRESS": f"localhost:{keyvault.port}",
        "KEY_ROTATION_TLS_CA_FILE": str(files.ca),
        "KEY_ROTATION_TLS_CERT_FILE": str(files.cert),
        "KEY_ROTATION_TLS_KEY_FILE": str(files.key),
    }
    # An asyncio subprocess: keyvault serves from this test's own event loop.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chat_api.jobs.rotation",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    output = (stdout + stderr).decode()

    assert process.returncode == 0, output
    assert "rotation to kid 2 finished: 2 examined, 2 rewrapped" in output
    for row in rows:
        assert parse(envelope_of(sessions, row.id)).kid == 2
        assert row.secret.decode() not in output
    assert database_url.split("@")[0] not in output  # the URL's credentials part
