"""The envelope format in switchyard_common: binding encoding and validation, parse(), seal()."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from switchyard_common.envelope import (
    HEADER_FORMAT,
    HEADER_LENGTH,
    MAGIC,
    NONCE_BYTES,
    TAG_BYTES,
    VERSION,
    Algorithm,
    Binding,
    EnvelopeFormatError,
    OwnerType,
    associated_data,
    parse,
    seal,
)

MAX_FIELD = 1024  # bytes of UTF-8 per binding field
BINDING = Binding("cred-1", OwnerType.USER, "user-1", "openai")
SECRET = b"sk-test-123"


@pytest.fixture(scope="module")
def public_key() -> rsa.RSAPublicKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()


@pytest.fixture(scope="module")
def envelope(public_key: rsa.RSAPublicKey) -> bytes:
    return seal(SECRET, public_key=public_key, kid=1, binding=BINDING)


def _decode_binding(encoded: bytes) -> tuple[str, ...]:
    """Read the u32-length-prefixed fields back; fails if anything is left over or missing."""
    fields = []
    offset = 0
    while offset < len(encoded):
        (length,) = struct.unpack_from(">I", encoded, offset)
        offset += 4
        raw = encoded[offset : offset + length]
        assert len(raw) == length, "truncated field"
        fields.append(raw.decode())
        offset += length
    assert offset == len(encoded)
    return tuple(fields)


def _binding(fields: tuple[str, str, str, str]) -> Binding:
    credential_id, owner_type, owner_id, provider = fields
    return Binding(credential_id, OwnerType(owner_type), owner_id, provider)


# --- Binding.encode ------------------------------------------------------------------------------

CONFUSABLE_PAIRS = [
    (("ab", "user", "c", "d"), ("a", "user", "bc", "d")),
    (("a", "user", "b", "cd"), ("a", "user", "bc", "d")),
    (("a", "user", "b", "c"), ("a", "org", "b", "c")),
    (("a\x00", "user", "b", "c"), ("a", "user", "\x00b", "c")),
    (("a|user", "user", "b", "c"), ("a", "user", "user|b", "c")),
    (("a:b", "user", "c", "d"), ("a", "user", "b:c", "d")),
    # A field that looks like a length prefix followed by the next field.
    (("a\x00\x00\x00\x04user", "user", "b", "c"), ("a", "user", "b", "c")),
    (("a", "user", "b\x00\x00\x00\x01c", "d"), ("a", "user", "b", "c\x00\x00\x00\x01d")),
    (("é", "user", "b", "c"), ("e\u0301", "user", "b", "c")),  # different code points, look alike
]


@pytest.mark.parametrize(("left", "right"), CONFUSABLE_PAIRS)
def test_binding_encoding_tells_confusable_bindings_apart(
    left: tuple[str, str, str, str], right: tuple[str, str, str, str]
) -> None:
    a, b = _binding(left), _binding(right)
    assert a != b
    assert a.encode() != b.encode()
    header = b"H" * HEADER_LENGTH
    assert associated_data(header, a) != associated_data(header, b)
    assert _decode_binding(a.encode()) == left
    assert _decode_binding(b.encode()) == right


def test_binding_encoding_is_injective_on_random_bindings() -> None:
    """Many random bindings over an alphabet full of separators: equal encodings only for equal
    bindings, and every encoding decodes back to its fields."""
    rng = random.Random(20240601)
    alphabet = ["a", "b", "\x00", "\x01", "\x04", "|", ":", "/", "user", "org", "é", "\U0001f511"]
    seen: dict[bytes, tuple[str, str, str, str]] = {}

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))

    for _ in range(3000):
        fields = (text(), rng.choice(["user", "org"]), text(), text())
        encoded = _binding(fields).encode()
        assert seen.setdefault(encoded, fields) == fields
        assert _decode_binding(encoded) == fields
    assert len(seen) > 2500  # the alphabet was rich enough to make mostly distinct bindings


def test_associated_data_layout() -> None:
    """Known answers written out by hand from docs/envelope.md ("Binding"): the context string and
    its NUL, the 12-byte header, then each field as a big-endian u32 length and its UTF-8 bytes."""
    header = bytes(range(HEADER_LENGTH))
    prefix = b"switchyard/credential-envelope/v1\x00" + b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b"
    assert associated_data(header, BINDING) == prefix + (
        b"\x00\x00\x00\x06cred-1"
        + b"\x00\x00\x00\x04user"
        + b"\x00\x00\x00\x06user-1"
        + b"\x00\x00\x00\x06openai"
    )
    org = Binding("c", OwnerType.ORG, "\u00e9", "p")  # a two-byte character: lengths count bytes
    assert associated_data(header, org) == prefix + (
        b"\x00\x00\x00\x01c" + b"\x00\x00\x00\x03org" + b"\x00\x00\x00\x02\xc3\xa9" + b"\x00\x00\x00\x01p"
    )


# --- Binding validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"credential_id": ""}, "credential_id must be a non-empty string"),
        ({"owner_id": ""}, "owner_id must be a non-empty string"),
        ({"provider": ""}, "provider must be a non-empty string"),
        ({"owner_type": "user"}, "owner_type"),  # a bare string, not the enum
        ({"owner_type": "admin"}, "owner_type"),
        ({"owner_type": None}, "owner_type"),
        ({"credential_id": 42}, "credential_id must be a non-empty string"),
        ({"owner_id": b"user-1"}, "owner_id must be a non-empty string"),
        ({"provider": None}, "provider must be a non-empty string"),
        ({"credential_id": "x" * (MAX_FIELD + 1)}, "credential_id is too long"),
        ({"owner_id": "x" * (MAX_FIELD + 1)}, "owner_id is too long"),
        ({"provider": "x" * (MAX_FIELD + 1)}, "provider is too long"),
        # 513 characters, but 1026 bytes of UTF-8: the limit is on bytes.
        ({"provider": "é" * (MAX_FIELD // 2 + 1)}, "provider is too long"),
        # Cannot be encoded as UTF-8 at all.
        ({"owner_id": "\ud800"}, "surrogate"),
    ],
)
def test_invalid_binding_is_refused(kwargs: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {
        "credential_id": "cred-1",
        "owner_type": OwnerType.USER,
        "owner_id": "user-1",
        "provider": "openai",
    }
    fields.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Binding(**fields)


def test_binding_field_limits_are_inclusive() -> None:
    longest = "x" * MAX_FIELD
    multibyte = "é" * (MAX_FIELD // 2)
    Binding(longest, OwnerType.ORG, longest, multibyte)
    assert OwnerType("user") is OwnerType.USER
    assert OwnerType("org") is OwnerType.ORG


# --- parse ---------------------------------------------------------------------------------------


def test_parse_splits_a_sealed_envelope(public_key: rsa.RSAPublicKey, envelope: bytes) -> None:
    parsed = parse(envelope)
    wrapped_len = public_key.key_size // 8
    assert len(envelope) == HEADER_LENGTH + wrapped_len + NONCE_BYTES + len(SECRET) + TAG_BYTES
    assert parsed.header == envelope[:HEADER_LENGTH]
    assert parsed.header == struct.pack(HEADER_FORMAT, MAGIC, VERSION, 1, 1, wrapped_len)
    assert (parsed.algorithm, parsed.kid) == (Algorithm.RSA_OAEP_256_A256GCM, 1)
    assert len(parsed.wrapped_key) == wrapped_len
    assert len(parsed.nonce) == NONCE_BYTES
    assert len(parsed.ciphertext) == len(SECRET) + TAG_BYTES
    assert parsed.header + parsed.wrapped_key + parsed.nonce + parsed.ciphertext == envelope


@pytest.mark.parametrize("length", range(HEADER_LENGTH))
def test_parse_refuses_input_shorter_than_the_header(envelope: bytes, length: int) -> None:
    with pytest.raises(EnvelopeFormatError, match="shorter than its header"):
        parse(envelope[:length])


def _with_header(envelope: bytes, **changes: Any) -> bytes:
    names = ("magic", "version", "algorithm", "kid", "wrapped_len")
    fields = dict(zip(names, struct.unpack(HEADER_FORMAT, envelope[:HEADER_LENGTH]), strict=True))
    fields.update(changes)
    return struct.pack(HEADER_FORMAT, *fields.values()) + envelope[HEADER_LENGTH:]


@pytest.mark.parametrize("magic", [b"SYEW", b"syev", b"\x00\x00\x00\x00", b"VEYS"])
def test_parse_refuses_bad_magic(envelope: bytes, magic: bytes) -> None:
    with pytest.raises(EnvelopeFormatError, match="magic or version"):
        parse(_with_header(envelope, magic=magic))


@pytest.mark.parametrize("version", [0, 2, 255])
def test_parse_refuses_other_versions(envelope: bytes, version: int) -> None:
    with pytest.raises(EnvelopeFormatError, match="magic or version"):
        parse(_with_header(envelope, version=version))


@pytest.mark.parametrize("algorithm", [0, int(Algorithm.RSA1_5_A256GCM), 3, 255])
def test_parse_refuses_other_algorithms(envelope: bytes, algorithm: int) -> None:
    with pytest.raises(EnvelopeFormatError, match="algorithm"):
        parse(_with_header(envelope, algorithm=algorithm))


def test_parse_refuses_a_body_shorter_than_the_header_promises(envelope: bytes) -> None:
    minimum = len(parse(envelope).wrapped_key) + NONCE_BYTES + TAG_BYTES + 1
    for cut in range(HEADER_LENGTH, HEADER_LENGTH + minimum):
        with pytest.raises(EnvelopeFormatError, match="body too short"):
            parse(envelope[:cut])
    # A header claiming a longer wrapped key than the body holds.
    with pytest.raises(EnvelopeFormatError, match="body too short"):
        parse(_with_header(envelope, wrapped_len=0xFFFF))
    # The shortest body that is long enough parses.
    shortest = parse(envelope[: HEADER_LENGTH + minimum])
    assert shortest.ciphertext == parse(envelope).ciphertext[: TAG_BYTES + 1]


def test_envelope_format_error_is_a_value_error() -> None:
    assert issubclass(EnvelopeFormatError, ValueError)


# --- seal ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", [0, -1, 2**32, 2**40])
def test_seal_refuses_bad_kid(public_key: rsa.RSAPublicKey, kid: int) -> None:
    with pytest.raises(ValueError, match="kid must be"):
        seal(SECRET, public_key=public_key, kid=kid, binding=BINDING)


@pytest.mark.parametrize("kid", [1, 2**32 - 1])
def test_seal_accepts_kid_limits(public_key: rsa.RSAPublicKey, kid: int) -> None:
    assert parse(seal(SECRET, public_key=public_key, kid=kid, binding=BINDING)).kid == kid


def test_seal_is_randomised(public_key: rsa.RSAPublicKey) -> None:
    first, second = (parse(seal(SECRET, public_key=public_key, kid=1, binding=BINDING)) for _ in range(2))
    assert first.header == second.header
    for part in ("wrapped_key", "nonce", "ciphertext"):
        assert getattr(first, part) != getattr(second, part), part
