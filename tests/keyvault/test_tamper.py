"""Tampered, moved, truncated and downgraded envelopes are refused by open_envelope, uniformly.

Every refusal must be a DecryptionFailed whose str() is UNIFORM_MESSAGE, whatever went wrong: a
caller (and so an attacker) learns nothing about which check failed.
"""

from __future__ import annotations

import itertools
import json
import os
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyvault.keyring import KeyRing, load_keyring
from keyvault.unwrap import UNIFORM_MESSAGE, DecryptionFailed, open_envelope
from switchyard_common.envelope import (
    HEADER_FORMAT,
    HEADER_LENGTH,
    MAGIC,
    MAX_SECRET_BYTES,
    NONCE_BYTES,
    TAG_BYTES,
    VERSION,
    Algorithm,
    Binding,
    OwnerType,
    associated_data,
    parse,
    seal,
)

KID = 1
SECRET = b"sk-test-0123456789"
BINDING = Binding("cred-1", OwnerType.USER, "user-1", "openai")


@pytest.fixture(scope="module")
def private_key(shared_keys_dir: Path) -> rsa.RSAPrivateKey:
    return load_keyring(shared_keys_dir, min_kid=1, passphrase_file=None).keys[KID]


@pytest.fixture(scope="module")
def ring(shared_keys_dir: Path) -> KeyRing:
    return load_keyring(shared_keys_dir, min_kid=1, passphrase_file=None)


@pytest.fixture(scope="module")
def envelope(private_key: rsa.RSAPrivateKey) -> bytes:
    return seal(SECRET, public_key=private_key.public_key(), kid=KID, binding=BINDING)


def attempt(ring: KeyRing, envelope: bytes, binding: Binding) -> DecryptionFailed | str:
    """The uniform refusal, or a description of what went wrong instead."""
    try:
        opened = open_envelope(ring, envelope, binding)
    except DecryptionFailed as exc:
        if type(exc) is not DecryptionFailed or str(exc) != UNIFORM_MESSAGE or exc.args != (UNIFORM_MESSAGE,):
            return f"non-uniform refusal {type(exc).__name__}: {exc!s}"
        if exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__):
            return f"refusal shows its cause in tracebacks: {exc.__cause__ or exc.__context__!r}"
        return exc
    except Exception as exc:
        return f"wrong exception {type(exc).__name__}: {exc}"
    return f"opened: {opened.secret!r}"


def refused(ring: KeyRing, envelope: bytes, binding: Binding) -> DecryptionFailed:
    result = attempt(ring, envelope, binding)
    if isinstance(result, str):
        pytest.fail(result)
    return result


class SpyPrivateKey(rsa.RSAPrivateKey):
    """Delegates to a real key and records every use, to prove what open_envelope did with it."""

    def __init__(self, inner: rsa.RSAPrivateKey) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        self.calls.append("decrypt")
        return self._inner.decrypt(ciphertext, padding)

    @property
    def key_size(self) -> int:
        self.calls.append("key_size")
        return self._inner.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        self.calls.append("public_key")
        return self._inner.public_key()

    def sign(
        self,
        data: bytes,
        padding: AsymmetricPadding,
        algorithm: asym_utils.Prehashed | hashes.HashAlgorithm | asym_utils.NoDigestInfo,
    ) -> bytes:
        self.calls.append("sign")
        return self._inner.sign(data, padding, algorithm)

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        self.calls.append("private_numbers")
        return self._inner.private_numbers()

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        self.calls.append("private_bytes")
        return self._inner.private_bytes(encoding, format, encryption_algorithm)

    def __copy__(self) -> SpyPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[Any, Any]) -> SpyPrivateKey:
        return self


# --- control -------------------------------------------------------------------------------------


def test_untampered_envelope_opens(ring: KeyRing, envelope: bytes) -> None:
    opened = open_envelope(ring, envelope, BINDING)
    assert (opened.secret, opened.kid) == (SECRET, KID)


# --- binding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(Binding("cred-2", OwnerType.USER, "user-1", "openai"), id="credential_id"),
        pytest.param(Binding("cred-1", OwnerType.ORG, "user-1", "openai"), id="owner_type"),
        pytest.param(Binding("cred-1", OwnerType.USER, "user-2", "openai"), id="owner_id"),
        pytest.param(Binding("cred-1", OwnerType.USER, "user-1", "anthropic"), id="provider"),
        pytest.param(Binding("cred-1", OwnerType.USER, "user-1", "OpenAI"), id="provider-case"),
        pytest.param(Binding("user-1", OwnerType.USER, "cred-1", "openai"), id="ids-swapped"),
        pytest.param(Binding("cred-", OwnerType.USER, "1user-1", "openai"), id="boundary-shifted"),
    ],
)
def test_other_binding_is_refused(ring: KeyRing, envelope: bytes, other: Binding) -> None:
    assert other != BINDING
    assert "AES-GCM" in refused(ring, envelope, other).reason


# --- splicing ------------------------------------------------------------------------------------


def test_spliced_envelopes_are_refused(private_key: rsa.RSAPrivateKey) -> None:
    """Parts of two good envelopes, recombined, never open.

    Kids 1 and 2 name the same RSA key, so every wrapped key in a splice still unwraps: only the
    GCM tag, over a header and ciphertext bound to one data key, can refuse the splice.
    """
    two_kids = KeyRing(keys={1: private_key, 2: private_key}, min_kid=1)
    public = private_key.public_key()
    a = seal(b"secret of A", public_key=public, kid=1, binding=BINDING)
    b = seal(b"secret of B", public_key=public, kid=2, binding=BINDING)
    assert open_envelope(two_kids, a, BINDING).secret == b"secret of A"
    assert open_envelope(two_kids, b, BINDING).secret == b"secret of B"
    pa, pb = parse(a), parse(b)
    assert pa.header != pb.header
    assert len(pa.wrapped_key) == len(pb.wrapped_key)
    splices = {
        "A's wrapped key on B": pb.header + pa.wrapped_key + pb.nonce + pb.ciphertext,
        "B's wrapped key on A": pa.header + pb.wrapped_key + pa.nonce + pa.ciphertext,
        "A's header+wrapped key, B's nonce+ciphertext": pa.header + pa.wrapped_key + pb.nonce + pb.ciphertext,
        "B's header+wrapped key, A's nonce+ciphertext": pb.header + pb.wrapped_key + pa.nonce + pa.ciphertext,
        "B's header on A": pb.header + pa.wrapped_key + pa.nonce + pa.ciphertext,
        "A's header on B": pa.header + pb.wrapped_key + pb.nonce + pb.ciphertext,
        "A with B's nonce": pa.header + pa.wrapped_key + pb.nonce + pa.ciphertext,
        "A with B's ciphertext": pa.header + pa.wrapped_key + pa.nonce + pb.ciphertext,
    }
    problems = {}
    for name, spliced in splices.items():
        assert spliced not in (a, b)
        result = attempt(two_kids, spliced, BINDING)
        if isinstance(result, str):
            problems[name] = result
        elif "AES-GCM" not in result.reason:
            problems[name] = f"refused before the tag was checked: {result.reason}"
    assert problems == {}


# --- every bit, every length ---------------------------------------------------------------------


def _regions(envelope: bytes) -> dict[str, tuple[int, int]]:
    parsed = parse(envelope)
    wrapped_end = HEADER_LENGTH + len(parsed.wrapped_key)
    ciphertext_end = len(envelope) - TAG_BYTES
    return {
        "header": (0, HEADER_LENGTH),
        "wrapped_key": (HEADER_LENGTH, wrapped_end),
        "nonce": (wrapped_end, wrapped_end + NONCE_BYTES),
        "ciphertext": (wrapped_end + NONCE_BYTES, ciphertext_end),
        "tag": (ciphertext_end, len(envelope)),
    }


def test_regions_cover_the_whole_envelope(envelope: bytes) -> None:
    spans = list(_regions(envelope).values())
    assert spans[0][0] == 0
    assert spans[-1][1] == len(envelope)
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(spans))
    assert spans[2][1] - spans[2][0] == NONCE_BYTES
    assert spans[3][1] - spans[3][0] == len(SECRET)


# Which check should catch a flipped bit in each region (the header's fields vary).
EXPECTED_CHECK = {"wrapped_key": "RSA-OAEP", "nonce": "AES-GCM", "ciphertext": "AES-GCM", "tag": "AES-GCM"}


@pytest.mark.parametrize("region", ["header", "wrapped_key", "nonce", "ciphertext", "tag"])
def test_every_single_bit_flip_is_refused(ring: KeyRing, envelope: bytes, region: str) -> None:
    start, end = _regions(envelope)[region]
    problems: list[str] = []
    reasons: Counter[str] = Counter()
    flips = 0
    for offset in range(start, end):
        for bit in range(8):
            tampered = bytearray(envelope)
            tampered[offset] ^= 1 << bit
            flips += 1
            result = attempt(ring, bytes(tampered), BINDING)
            if isinstance(result, str):
                problems.append(f"byte {offset} bit {bit}: {result}")
                continue
            reasons[result.reason] += 1
            expected = EXPECTED_CHECK.get(region)
            if expected is not None and expected not in result.reason:
                problems.append(f"byte {offset} bit {bit}: refused by the wrong check: {result.reason}")
    assert problems == []
    assert flips == 8 * (end - start) > 0
    if region == "header":
        # Magic, version, algorithm, kid and length flips are each caught (by different checks).
        assert any("malformed" in reason for reason in reasons)
        assert any("kid" in reason for reason in reasons)


def test_every_truncation_is_refused(ring: KeyRing, envelope: bytes) -> None:
    problems = [
        f"length {length}: {result}"
        for length in range(len(envelope))
        if isinstance(result := attempt(ring, envelope[:length], BINDING), str)
    ]
    assert problems == []


def test_appended_bytes_are_refused(ring: KeyRing, envelope: bytes) -> None:
    for extra in (b"\x00", b"\x00" * TAG_BYTES, os.urandom(100)):
        refused(ring, envelope + extra, BINDING)


# --- kid and algorithm: refused before any RSA operation -----------------------------------------


def _spy_ring(
    private_key: rsa.RSAPrivateKey, *, kids: tuple[int, ...], min_kid: int
) -> tuple[KeyRing, SpyPrivateKey]:
    spy = SpyPrivateKey(private_key)
    return KeyRing(keys=dict.fromkeys(kids, spy), min_kid=min_kid), spy


def test_spy_key_records_the_rsa_decrypt(private_key: rsa.RSAPrivateKey, envelope: bytes) -> None:
    """Control for the tests below: the spy does see the decrypt of an envelope that opens."""
    spy_ring, spy = _spy_ring(private_key, kids=(KID,), min_kid=KID)
    assert open_envelope(spy_ring, envelope, BINDING).secret == SECRET
    assert spy.calls.count("decrypt") == 1


def test_unknown_kid_is_refused_without_rsa(private_key: rsa.RSAPrivateKey) -> None:
    sealed = seal(SECRET, public_key=private_key.public_key(), kid=7, binding=BINDING)
    spy_ring, spy = _spy_ring(private_key, kids=(1, 2), min_kid=1)
    assert "kid" in refused(spy_ring, sealed, BINDING).reason
    assert spy.calls == []


def test_kid_below_the_floor_is_refused_without_rsa(private_key: rsa.RSAPrivateKey) -> None:
    sealed = seal(SECRET, public_key=private_key.public_key(), kid=1, binding=BINDING)
    spy_ring, spy = _spy_ring(private_key, kids=(1, 2), min_kid=2)
    assert "kid" in refused(spy_ring, sealed, BINDING).reason
    assert spy.calls == []
    # The same envelope opens once the floor allows kid 1: the floor alone refused it.
    assert open_envelope(spy_ring.with_min_kid(1), sealed, BINDING).secret == SECRET


def _pkcs1_envelope(public: rsa.RSAPublicKey, secret: bytes, binding: Binding) -> bytes:
    """A genuinely consistent algorithm-2 envelope: PKCS#1 v1.5 wrapped key, AAD over its header."""
    data_key = AESGCM.generate_key(bit_length=256)
    wrapped = public.encrypt(data_key, padding.PKCS1v15())
    header = struct.pack(HEADER_FORMAT, MAGIC, VERSION, Algorithm.RSA1_5_A256GCM, KID, len(wrapped))
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, secret, associated_data(header, binding))
    return header + wrapped + nonce + ciphertext


def test_algorithm_rsa1_5_is_refused_without_rsa(private_key: rsa.RSAPrivateKey, envelope: bytes) -> None:
    # Byte 5 of the header is the algorithm.
    relabelled = bytearray(envelope)
    assert relabelled[5] == Algorithm.RSA_OAEP_256_A256GCM
    relabelled[5] = Algorithm.RSA1_5_A256GCM
    candidates = {
        "OAEP envelope relabelled as algorithm 2": bytes(relabelled),
        "real PKCS#1 v1.5 envelope": _pkcs1_envelope(private_key.public_key(), SECRET, BINDING),
    }
    for name, candidate in candidates.items():
        spy_ring, spy = _spy_ring(private_key, kids=(KID,), min_kid=KID)
        failure = refused(spy_ring, candidate, BINDING)
        assert "algorithm" in failure.reason, name
        assert spy.calls == [], f"{name}: the private key was used: {spy.calls}"


# --- uniformity across all kinds of refusal -----------------------------------------------------


def test_all_refusals_look_the_same(private_key: rsa.RSAPrivateKey, ring: KeyRing, envelope: bytes) -> None:
    flipped_ct = bytearray(envelope)
    flipped_ct[-1] ^= 1
    flipped_wrapped = bytearray(envelope)
    flipped_wrapped[HEADER_LENGTH + 5] ^= 1
    unknown_kid = seal(SECRET, public_key=private_key.public_key(), kid=9, binding=BINDING)
    cases = {
        "empty": (b"", BINDING),
        "bad magic": (b"XXXX" + envelope[4:], BINDING),
        "algorithm 2": (_pkcs1_envelope(private_key.public_key(), SECRET, BINDING), BINDING),
        "unknown kid": (unknown_kid, BINDING),
        "wrong wrapped length": (envelope[:HEADER_LENGTH] + envelope[HEADER_LENGTH + 1 :], BINDING),
        "bad OAEP": (bytes(flipped_wrapped), BINDING),
        "bad tag": (bytes(flipped_ct), BINDING),
        "other binding": (envelope, Binding("cred-1", OwnerType.ORG, "user-1", "openai")),
    }
    failures = {name: refused(ring, data, binding) for name, (data, binding) in cases.items()}
    assert {(type(f), str(f), f.args) for f in failures.values()} == {
        (DecryptionFailed, UNIFORM_MESSAGE, (UNIFORM_MESSAGE,))
    }
    # ...while the audit reasons do tell the cases apart (so these really are different paths).
    assert len({f.reason for f in failures.values()}) >= 5


# --- sizes ---------------------------------------------------------------------------------------


def _json_secret(size: int) -> bytes:
    """A service-account-like JSON document of exactly `size` bytes."""
    document = {"type": "service_account", "project_id": "p", "private_key": ""}
    skeleton = len(json.dumps(document).encode())
    document["private_key"] = "k" * (size - skeleton)
    raw = json.dumps(document).encode()
    assert len(raw) == size
    return raw


@pytest.mark.parametrize("size", [8 * 1024, MAX_SECRET_BYTES], ids=["8KiB", "1MiB"])
def test_large_json_secret_round_trips(private_key: rsa.RSAPrivateKey, ring: KeyRing, size: int) -> None:
    secret = _json_secret(size)
    sealed = seal(secret, public_key=private_key.public_key(), kid=KID, binding=BINDING)
    assert len(sealed) == HEADER_LENGTH + private_key.key_size // 8 + NONCE_BYTES + size + TAG_BYTES
    assert open_envelope(ring, sealed, BINDING).secret == secret
    tampered = bytearray(sealed)
    tampered[len(sealed) // 2] ^= 0x80
    refused(ring, bytes(tampered), BINDING)


@pytest.mark.parametrize("secret", [b"", b"x" * (MAX_SECRET_BYTES + 1)], ids=["empty", "oversized"])
def test_seal_refuses_empty_and_oversized_secrets(private_key: rsa.RSAPrivateKey, secret: bytes) -> None:
    with pytest.raises(ValueError, match="secret must be"):
        seal(secret, public_key=private_key.public_key(), kid=KID, binding=BINDING)
