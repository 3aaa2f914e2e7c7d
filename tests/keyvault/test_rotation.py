"""Key rotation: a new kid, reload, Rewrap to the newest kid, the kid floor, and the keys CLI."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keyvault.config import Settings
from keyvault.keyring import KeyRingError, load_keyring
from keyvault.keys import generate_key
from keyvault.server import KeyVaultServer
from switchyard_common.envelope import Binding, OwnerType, parse, seal
from tests.conftest import RunningKeyVault
from tests.support.keyvault import UNIFORM, KeyVaultClient, keyvault_settings, serving, status_of
from tests.support.nats_server import NatsServer
from tests.support.processes import environ_without, run_python

if TYPE_CHECKING:
    from tests.support.keyvault import TestPki

SECRET = b"sk-rotation-7f3a9c"
BINDING = Binding("cred-rot", OwnerType.ORG, "org-9", "anthropic")
OTHER_BINDING = Binding("cred-rot", OwnerType.ORG, "org-10", "anthropic")


@pytest.fixture
def client(keyvault: RunningKeyVault) -> KeyVaultClient:
    return keyvault.client(binding=BINDING, secret=SECRET)


@pytest.fixture
def min_kid_2_settings(
    test_pki: TestPki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> Settings:
    """Settings for a fresh keyvault that opens nothing below kid 2."""
    return keyvault_settings(
        pki_=test_pki,
        keys_dir=keys_dir,
        nats_url=nats_server.url,
        audit_path=tmp_path / "audit.jsonl",
        min_kid=2,
    )


def add_kid(server: KeyVaultServer) -> int:
    return generate_key(server.settings.keys_dir, bits=2048)


async def test_reload_picks_up_a_new_kid_and_old_envelopes_still_open(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    old_kid, old_key = await client.public_key()
    assert old_kid == 1
    old_envelope = await client.seal()
    assert parse(old_envelope).kid == 1

    assert add_kid(keyvault.server) == 2
    # A key file alone changes nothing until the keys are reloaded.
    assert (await client.public_key())[0] == 1
    keyvault.server.reload_keys()

    new_kid, new_key = await client.public_key()
    assert new_kid == 2
    assert new_key.public_numbers() != old_key.public_numbers()
    new_envelope = await client.seal()
    assert parse(new_envelope).kid == 2

    old_reply = await client.decrypt(old_envelope)
    new_reply = await client.decrypt(new_envelope)
    assert (old_reply.secret, old_reply.kid) == (SECRET, 1)
    assert (new_reply.secret, new_reply.kid) == (SECRET, 2)


async def test_rewrap_moves_an_envelope_to_the_newest_kid(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    old_envelope = await client.seal()
    add_kid(keyvault.server)
    keyvault.server.reload_keys()

    reply = await client.rewrap(old_envelope)
    assert reply.changed_kid is True
    assert reply.kid == 2
    assert parse(reply.envelope).kid == 2
    assert reply.envelope != old_envelope
    # The rotation job never sees the secret: not in any field of the response.
    serialized = reply.SerializeToString()
    assert SECRET not in serialized
    assert SECRET not in reply.envelope

    opened = await client.decrypt(reply.envelope)
    assert (opened.secret, opened.kid) == (SECRET, 2)
    # Still bound to exactly the original binding.
    assert status_of(await client.decrypt_error(reply.envelope, OTHER_BINDING)) == UNIFORM

    again = await client.rewrap(reply.envelope)
    assert again.changed_kid is False
    assert again.kid == 2
    assert again.envelope != reply.envelope  # re-sealed with a fresh data key and nonce
    assert (await client.decrypt(again.envelope)).secret == SECRET


async def test_rewrap_cannot_rebind_an_envelope(client: KeyVaultClient, keyvault: RunningKeyVault) -> None:
    """Rewrap opens under the binding it is given, so it cannot move a secret to another owner."""
    envelope = await client.seal()
    add_kid(keyvault.server)
    keyvault.server.reload_keys()
    assert status_of(await client.rewrap_error(envelope, OTHER_BINDING)) == UNIFORM


async def test_raising_the_floor_refuses_old_envelopes_uniformly(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    old_envelope = await client.seal()
    add_kid(keyvault.server)
    keyvault.server.reload_keys(min_kid=2)
    new_envelope = await client.seal()
    assert parse(new_envelope).kid == 2

    below_floor = await client.decrypt_error(old_envelope)
    garbage = await client.decrypt_error(b"not an envelope at all")
    assert status_of(below_floor) == UNIFORM
    assert status_of(below_floor) == status_of(garbage)
    # Nor can rotation rescue an envelope below the floor.
    assert status_of(await client.rewrap_error(old_envelope)) == UNIFORM
    assert (await client.decrypt(new_envelope)).secret == SECRET

    keyvault.server.reload_keys(min_kid=1)
    assert (await client.decrypt(old_envelope)).secret == SECRET


async def test_a_reload_that_fails_keeps_the_loaded_keys(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    envelope = await client.seal()
    keys_dir = keyvault.server.settings.keys_dir
    with pytest.raises(KeyRingError, match="above the newest key"):
        keyvault.server.reload_keys(min_kid=5)
    (keys_dir / "kid-2.pem").write_bytes(
        b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(KeyRingError, match=re.escape("cannot load kid-2.pem")):
        keyvault.server.reload_keys()
    assert (await client.public_key())[0] == 1
    assert (await client.decrypt(envelope)).secret == SECRET


async def test_fresh_server_with_min_kid_setting(
    test_pki: TestPki, keys_dir: Path, min_kid_2_settings: Settings
) -> None:
    kid_1 = serialization.load_pem_private_key((keys_dir / "kid-1.pem").read_bytes(), password=None)
    assert isinstance(kid_1, rsa.RSAPrivateKey)
    old_envelope = seal(SECRET, public_key=kid_1.public_key(), kid=1, binding=BINDING)
    assert generate_key(keys_dir, bits=2048) == 2

    async with serving(min_kid_2_settings) as server:
        client = KeyVaultClient(server.port, test_pki, binding=BINDING, secret=SECRET)
        assert (await client.public_key())[0] == 2
        refused = await client.decrypt_error(old_envelope)
        assert status_of(refused) == UNIFORM
        assert status_of(refused) == status_of(await client.decrypt_error(old_envelope, OTHER_BINDING))
        assert (await client.decrypt(await client.seal())).secret == SECRET
        # A plain reload keeps the configured floor; lowering it explicitly restores kid 1.
        server.reload_keys()
        assert status_of(await client.decrypt_error(old_envelope)) == UNIFORM
        server.reload_keys(min_kid=1)
        assert (await client.decrypt(old_envelope)).secret == SECRET


async def test_server_refuses_to_start_with_floor_above_newest_key(min_kid_2_settings: Settings) -> None:
    server = KeyVaultServer(min_kid_2_settings)
    with pytest.raises(KeyRingError, match="min_kid 2 is above the newest key 1"):
        await server.start()
    assert server.port == 0


# --- the keys CLI ------------------------------------------------------------------------------

PASSPHRASE = "correct horse battery staple 8841"


def keys_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_python("-m", "keyvault.keys", *map(str, args), env=environ_without("KEYVAULT_"), timeout=60)


def test_cli_generate_and_list(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    first = keys_cli("generate", "--dir", keys_dir, "--bits", "2048")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"generated kid 1 (RSA-2048) in {keys_dir}"
    second = keys_cli("generate", "--dir", keys_dir, "--bits", "2048")
    assert second.returncode == 0, second.stderr
    assert "generated kid 2 (RSA-2048)" in second.stdout

    assert sorted(p.name for p in keys_dir.iterdir()) == ["kid-1.pem", "kid-2.pem"]
    for path in keys_dir.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    listed = keys_cli("list", "--dir", keys_dir)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    pattern = re.compile(r"^kid (\d+)  RSA-2048  sha256:([0-9a-f]{32})(.*)$")
    matches = [pattern.match(line) for line in lines]
    assert all(matches), lines
    parsed = [(m.group(1), m.group(2), m.group(3)) for m in matches if m]
    assert [kid for kid, _, _ in parsed] == ["1", "2"]
    assert parsed[0][1] != parsed[1][1]  # distinct keys, distinct fingerprints
    assert parsed[0][2] == ""
    assert parsed[1][2] == "  (encrypts)"

    floored = keys_cli("list", "--dir", keys_dir, "--min-kid", "2")
    assert floored.returncode == 0, floored.stderr
    assert floored.stdout.splitlines()[0].endswith("(refused: below min kid)")
    assert floored.stdout.splitlines()[1].endswith("(encrypts)")


def test_cli_passphrase_protected_key(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    wrong_file = tmp_path / "wrong"
    wrong_file.write_text("not the passphrase\n")

    made = keys_cli("generate", "--dir", keys_dir, "--bits", "2048", "--passphrase-file", passphrase_file)
    assert made.returncode == 0, made.stderr
    key_file = keys_dir / "kid-1.pem"
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert PASSPHRASE.encode() not in key_file.read_bytes()

    listed = keys_cli("list", "--dir", keys_dir, "--passphrase-file", passphrase_file)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("kid 1  RSA-2048  sha256:")
    # The trailing newline of the file is not part of the passphrase, in-process either.
    ring = load_keyring(keys_dir, min_kid=1, passphrase_file=passphrase_file)
    assert ring.newest_kid == 1

    for extra in ([], ["--passphrase-file", str(wrong_file)]):
        failed = keys_cli("list", "--dir", keys_dir, *extra)
        assert failed.returncode == 1
        assert failed.stdout == ""
        assert failed.stderr.strip() == "error: cannot load kid-1.pem: wrong passphrase or not a key"
        assert "Traceback" not in failed.stderr
        assert PASSPHRASE not in failed.stderr + failed.stdout
    with pytest.raises(KeyRingError):
        load_keyring(keys_dir, min_kid=1, passphrase_file=None)


def test_cli_refuses_1024_bit_keys(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    refused = keys_cli("generate", "--dir", keys_dir, "--bits", "1024")
    assert refused.returncode == 2
    assert "invalid choice: 1024" in refused.stderr
    assert not keys_dir.exists()
    with pytest.raises(ValueError, match="key size must be one of"):
        generate_key(keys_dir, bits=1024)
    assert not keys_dir.exists()


def test_keyring_refuses_a_1024_bit_key_file(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  # the point: it must be refused
    (keys_dir / "kid-1.pem").write_bytes(
        weak.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(KeyRingError, match=re.escape("kid-1.pem is not an RSA key of")):
        load_keyring(keys_dir, min_kid=1, passphrase_file=None)
    listed = keys_cli("list", "--dir", keys_dir)
    assert listed.returncode == 1
    assert "Traceback" not in listed.stderr
