"""The audit trail of every Decrypt/Rewrap decision, its failure mode, and per-caller rate limits."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc import aio

from keyvault.audit import AuditRecord, AuditUnavailable, FileAuditSink
from keyvault.ratelimit import RateLimiter
from keyvault.server import KeyVaultServer
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import HEADER_LENGTH, Algorithm, Binding, OwnerType
from switchyard_dev import pki
from tests.conftest import RunningKeyVault
from tests.support.keyvault import (
    CALL_TIMEOUT,
    UNIFORM,
    KeyVaultClient,
    keyvault_settings,
    serving,
    status_of,
    stub,
)
from tests.support.nats_server import NatsServer

if TYPE_CHECKING:
    from tests.support.keyvault import TestPki

SECRET = b"sk-audit-3c1e55d0a9b7"
BINDING = Binding("cred-audit", OwnerType.USER, "user-42", "openai")
REVOKED_BINDING = Binding("cred-revoked", OwnerType.ORG, "org-7", "mistral")
OTHER_BINDING = Binding("cred-audit", OwnerType.USER, "user-43", "openai")
ROUTER = pki.spiffe_id("router")
ROTATION = pki.spiffe_id("key-rotation")


def audit_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def client(keyvault: RunningKeyVault) -> KeyVaultClient:
    return keyvault.client(binding=BINDING, secret=SECRET)


@asynccontextmanager
async def custom_keyvault(
    test_pki: TestPki, keys_dir: Path, nats_url: str, audit_path: Path, **overrides: object
) -> AsyncIterator[KeyVaultClient]:
    settings = keyvault_settings(
        pki_=test_pki, keys_dir=keys_dir, nats_url=nats_url, audit_path=audit_path, **overrides
    )
    async with serving(settings) as server:
        yield KeyVaultClient(server.port, test_pki, binding=BINDING, secret=SECRET)


# --- what is audited ------------------------------------------------------------------------------


async def test_each_decrypt_and_rewrap_writes_one_audit_line(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    envelope = await client.seal()
    assert audit_records(keyvault.audit_path) == []  # GetPublicKey is not audited
    before = dt.datetime.now(dt.UTC)

    assert (await client.decrypt(envelope)).secret == SECRET
    lines = keyvault.audit_path.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record == {
        "time": record["time"],
        "audit": "keyvault",
        "operation": "decrypt",
        "caller": ROUTER,
        "outcome": "ok",
        "reason": "",
        "credential_id": "cred-audit",
        "owner_type": "user",
        "owner_id": "user-42",
        "provider": "openai",
        "kid": 1,
    }
    when = dt.datetime.fromisoformat(record["time"])
    assert when.tzinfo is not None
    assert before - dt.timedelta(seconds=1) <= when <= dt.datetime.now(dt.UTC)

    await client.rewrap(envelope)
    records = audit_records(keyvault.audit_path)
    assert len(records) == 2
    assert records[1]["operation"] == "rewrap"
    assert records[1]["caller"] == ROTATION
    assert records[1]["outcome"] == "ok"
    assert records[1]["kid"] == 1  # the kid the envelope was opened under
    assert (records[1]["credential_id"], records[1]["owner_id"]) == ("cred-audit", "user-42")


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _with_header(envelope: bytes, *, algorithm: int | None = None, kid: int | None = None) -> bytes:
    magic, version, old_algorithm, old_kid, wrapped_len = struct.unpack(">4sBBIH", envelope[:HEADER_LENGTH])
    header = struct.pack(
        ">4sBBIH",
        magic,
        version,
        old_algorithm if algorithm is None else algorithm,
        old_kid if kid is None else kid,
        wrapped_len,
    )
    return header + envelope[HEADER_LENGTH:]


async def test_refusals_look_the_same_to_the_caller_but_not_in_the_audit(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    envelope = await client.seal()
    revoked_envelope = await client.seal(REVOKED_BINDING)
    keyvault.server.revocations.revoke(REVOKED_BINDING.credential_id)
    # The RSA-wrapped data key starts right after the header.
    cases: list[tuple[str, bytes, Binding, str]] = [
        ("wrong binding", envelope, OTHER_BINDING, "AES-GCM authentication failed"),
        ("flipped tag", _flip(envelope, len(envelope) - 1), BINDING, "AES-GCM authentication failed"),
        ("flipped ciphertext", _flip(envelope, len(envelope) - 17), BINDING, "AES-GCM authentication failed"),
        ("flipped wrapped key", _flip(envelope, HEADER_LENGTH + 5), BINDING, "RSA-OAEP decryption failed"),
        ("unknown kid", _with_header(envelope, kid=99), BINDING, "kid 99 unknown"),
        ("garbage", b"\x00garbage that is not an envelope" * 20, BINDING, "malformed envelope"),
        ("empty", b"", BINDING, "malformed envelope"),
        ("truncated", envelope[: HEADER_LENGTH + 40], BINDING, "malformed envelope"),
        (
            "pkcs1 header",
            _with_header(envelope, algorithm=Algorithm.RSA1_5_A256GCM),
            BINDING,
            "algorithm that is not accepted",
        ),
        ("revoked", revoked_envelope, REVOKED_BINDING, "credential revoked"),
    ]
    errors = {}
    for name, data, binding, _ in cases:
        errors[name] = await client.decrypt_error(data, binding)

    first_trailers = list(errors["wrong binding"].trailing_metadata() or ())
    for name, error in errors.items():
        assert status_of(error) == UNIFORM, (name, error)
        assert list(error.trailing_metadata() or ()) == first_trailers, name
        assert SECRET not in (error.details() or "").encode()

    records = audit_records(keyvault.audit_path)
    assert len(records) == len(cases)
    for record, (name, _, binding, reason) in zip(records, cases, strict=True):
        assert record["outcome"] == "refused", name
        assert reason in record["reason"], (name, record)
        assert record["caller"] == ROUTER
        assert record["credential_id"] == binding.credential_id
        assert record["owner_id"] == binding.owner_id
        assert record["provider"] == binding.provider
        assert record["kid"] is None
    # The untouched envelope still opens: none of the refusals was about the envelope itself.
    assert (await client.decrypt(envelope)).secret == SECRET


async def test_rewrap_refusal_is_uniform_and_audited(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    envelope = await client.seal()
    error = await client.rewrap_error(envelope, OTHER_BINDING)
    assert status_of(error) == UNIFORM
    [record] = audit_records(keyvault.audit_path)
    assert (record["operation"], record["caller"], record["outcome"]) == ("rewrap", ROTATION, "refused")
    assert record["reason"] == "AES-GCM authentication failed"


async def test_incomplete_binding_is_a_malformed_request_and_audited(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    envelope = await client.seal()
    async with client.channel("router") as channel:
        with pytest.raises(aio.AioRpcError) as info:
            await stub(channel).Decrypt(
                keyvault_pb2.DecryptRequest(
                    envelope=envelope, binding=keyvault_pb2.Binding(credential_id="cred-audit")
                ),
                timeout=CALL_TIMEOUT,
            )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [record] = audit_records(keyvault.audit_path)
    assert record["outcome"] == "invalid_request"
    assert record["caller"] == ROUTER


def _encodings(data: bytes) -> list[bytes]:
    return [
        data,
        base64.b64encode(data),
        base64.urlsafe_b64encode(data),
        base64.b64encode(data).rstrip(b"="),
        data.hex().encode(),
        data.hex().upper().encode(),
    ]


async def test_audit_never_contains_the_secret_or_the_envelope(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    envelope = await client.seal()
    await client.decrypt(envelope)
    rewrapped = (await client.rewrap(envelope)).envelope
    await client.decrypt_error(envelope, OTHER_BINDING)
    await client.decrypt_error(_flip(envelope, len(envelope) - 1))

    audit = keyvault.audit_path.read_bytes()
    assert len(audit_records(keyvault.audit_path)) == 4
    for label, data in {
        "secret": SECRET,
        "envelope": envelope,
        "envelope body": envelope[HEADER_LENGTH:],
        "wrapped key": envelope[HEADER_LENGTH : HEADER_LENGTH + 384],
        "ciphertext and tag": envelope[-(len(SECRET) + 16) :],
        "rewrapped envelope": rewrapped,
        "rewrapped body": rewrapped[HEADER_LENGTH:],
    }.items():
        for encoded in _encodings(data):
            assert encoded not in audit, label


# --- an audit that cannot be written refuses the operation -----------------------------------------


async def test_audit_sink_full_refuses_decrypt(
    test_pki: TestPki, keys_dir: Path, nats_server: NatsServer
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is not available")
    async with custom_keyvault(test_pki, keys_dir, nats_server.url, Path("/dev/full")) as client:
        envelope = await client.seal()
        error = await client.decrypt_error(envelope)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == "audit log unavailable"
        assert SECRET not in (error.details() or "").encode()
        rewrap_error = await client.rewrap_error(envelope)
        assert rewrap_error.code() == grpc.StatusCode.UNAVAILABLE
        # A refusal that cannot be audited is still a refusal, with the uniform message.
        assert status_of(await client.decrypt_error(envelope, OTHER_BINDING)) == UNIFORM


@contextmanager
def audit_fd_replaced(server: KeyVaultServer, path: Path, flags: int) -> Iterator[None]:
    """Point the running sink's file descriptor at `path` opened with `flags`, then put it back."""
    sink = server._audit
    assert isinstance(sink, FileAuditSink)
    saved = os.dup(sink._fd)
    replacement = os.open(path, flags)
    try:
        os.dup2(replacement, sink._fd)
        yield
    finally:
        os.dup2(saved, sink._fd)
        os.close(saved)
        os.close(replacement)


async def test_audit_write_failure_refuses_and_recovers(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    envelope = await client.seal()
    with audit_fd_replaced(keyvault.server, keyvault.audit_path, os.O_RDONLY):
        error = await client.decrypt_error(envelope)
        rewrap_error = await client.rewrap_error(envelope)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert rewrap_error.code() == grpc.StatusCode.UNAVAILABLE
    assert audit_records(keyvault.audit_path) == []
    # With the log writable again the same envelope opens, and that is audited.
    assert (await client.decrypt(envelope)).secret == SECRET
    assert [r["outcome"] for r in audit_records(keyvault.audit_path)] == ["ok"]


def test_file_audit_sink(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "audit.jsonl"
    sink = FileAuditSink(path)
    try:
        sink.write(AuditRecord("decrypt", ROUTER, "ok", credential_id="c1", kid=1))
        sink.write(AuditRecord("rewrap", ROTATION, "refused", reason="AES-GCM authentication failed"))
    finally:
        sink.close()
    assert path.stat().st_mode & 0o777 == 0o600
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["operation"] for line in lines[:-1]] == ["decrypt", "rewrap"]
    # Appends, never truncates, across reopen.
    again = FileAuditSink(path)
    again.write(AuditRecord("decrypt", ROUTER, "ok"))
    again.close()
    assert len(path.read_text().splitlines()) == 3


def test_file_audit_sink_raises_when_the_device_is_full() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is not available")
    sink = FileAuditSink(Path("/dev/full"))
    try:
        with pytest.raises(AuditUnavailable, match="audit log write failed"):
            sink.write(AuditRecord("decrypt", ROUTER, "ok"))
    finally:
        sink.close()


# --- rate limits ------------------------------------------------------------------------------------


async def test_rate_limit_per_caller(
    test_pki: TestPki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> None:
    audit_path = tmp_path / "audit.jsonl"
    async with custom_keyvault(
        test_pki,
        keys_dir,
        nats_server.url,
        audit_path,
        rate_limit_per_second=0.001,
        rate_limit_burst=3,
    ) as client:
        envelope = await client.seal()
        for _ in range(3):
            assert (await client.decrypt(envelope)).secret == SECRET
        limited = await client.decrypt_error(envelope)
        assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert SECRET not in (limited.details() or "").encode()
        # key-rotation has its own bucket.
        for _ in range(3):
            assert (await client.rewrap(envelope)).kid == 1
        assert (await client.rewrap_error(envelope)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The router's bucket is still empty.
        assert (await client.decrypt_error(envelope)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    records = audit_records(audit_path)
    assert [(r["caller"], r["outcome"]) for r in records] == [
        *[(ROUTER, "ok")] * 3,
        (ROUTER, "rate_limited"),
        *[(ROTATION, "ok")] * 3,
        (ROTATION, "rate_limited"),
        (ROUTER, "rate_limited"),
    ]
    assert records[3]["credential_id"] == "cred-audit"
    assert records[3]["kid"] is None


async def test_failed_attempts_count_against_the_limit(
    test_pki: TestPki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> None:
    """Probing with bad envelopes spends the same budget as real decrypts."""
    async with custom_keyvault(
        test_pki,
        keys_dir,
        nats_server.url,
        tmp_path / "audit.jsonl",
        rate_limit_per_second=0.001,
        rate_limit_burst=3,
    ) as client:
        envelope = await client.seal()
        for _ in range(3):
            assert status_of(await client.decrypt_error(b"garbage")) == UNIFORM
        limited = await client.decrypt_error(envelope)
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_burst_then_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=2, burst=3, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    clock.now += 0.25  # half a token
    assert limiter.allow("a") is False
    clock.now += 0.25  # the halves add up across a refused call
    assert limiter.allow("a") is True
    assert limiter.allow("a") is False
    clock.now += 60  # refills up to the burst, never beyond
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_rate_limiter_buckets_are_per_identity() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=1, burst=2, clock=clock)
    assert [limiter.allow("router") for _ in range(3)] == [True, True, False]
    assert [limiter.allow("rotation") for _ in range(3)] == [True, True, False]
    clock.now += 1
    assert limiter.allow("router") is True
    assert limiter.allow("rotation") is True
    assert limiter.allow("router") is False


def test_rate_limiter_new_identity_starts_full_after_a_long_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=0.001, burst=1, clock=clock)
    assert limiter.allow("a") is True
    clock.now += 500  # half a token at this rate
    assert limiter.allow("a") is False
    assert limiter.allow("b") is True
    clock.now += 500
    assert limiter.allow("a") is True
