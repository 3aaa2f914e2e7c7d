"""The credential envelope: format, binding and sealing (public key only).

Layout (all integers big-endian; see docs/envelope.md):

    magic "SYEV" | version u8 | algorithm u8 | kid u32 | wrapped_len u16   (the 12-byte header)
    wrapped data key (wrapped_len bytes, RSA-OAEP-SHA256/MGF1-SHA256)
    nonce (12 bytes) | AES-256-GCM ciphertext || tag (16 bytes)

The GCM associated data is `AAD_CONTEXT || header || binding.encode()`, so an envelope moved to
another credential, owner or provider, or given another header, does not open. Opening needs the
private key and lives only in keyvault.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "AAD_CONTEXT",
    "Algorithm",
    "Binding",
    "EnvelopeFormatError",
    "HEADER_LENGTH",
    "MAX_SECRET_BYTES",
    "NONCE_BYTES",
    "OAEP_SHA256",
    "OwnerType",
    "ParsedEnvelope",
    "associated_data",
    "parse",
    "seal",
]

MAGIC = b"SYEV"
VERSION = 1
HEADER_FORMAT = ">4sBBIH"
HEADER_LENGTH = struct.calcsize(HEADER_FORMAT)
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# Some provider credentials are multi-KB JSON (service accounts); 1 MiB bounds abuse, not use.
MAX_SECRET_BYTES = 1 << 20
MAX_BINDING_FIELD_BYTES = 1024
AAD_CONTEXT = b"switchyard/credential-envelope/v1\x00"

OAEP_SHA256 = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class Algorithm(enum.IntEnum):
    """Algorithm identifiers a header may name. Only RSA_OAEP_256_A256GCM is ever accepted."""

    RSA_OAEP_256_A256GCM = 1
    # Named so that it can be recognised and refused: PKCS#1 v1.5 invites padding oracles.
    RSA1_5_A256GCM = 2


class OwnerType(enum.StrEnum):
    USER = "user"
    ORG = "org"


class EnvelopeFormatError(ValueError):
    """The bytes are not a well-formed envelope of a supported version and algorithm."""


@dataclass(frozen=True, slots=True)
class Binding:
    """What an envelope is sealed for: it opens only under exactly this binding."""

    credential_id: str
    owner_type: OwnerType
    owner_id: str
    provider: str

    def __post_init__(self) -> None:
        if not isinstance(self.owner_type, OwnerType):
            raise ValueError("owner_type must be 'user' or 'org'")
        for name in ("credential_id", "owner_id", "provider"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"binding field {name} must be a non-empty string")
            if len(value.encode()) > MAX_BINDING_FIELD_BYTES:
                raise ValueError(f"binding field {name} is too long")

    def encode(self) -> bytes:
        """Unambiguous encoding: each field as a u32 length followed by its UTF-8 bytes."""
        fields = (self.credential_id, self.owner_type.value, self.owner_id, self.provider)
        out = bytearray()
        for field in fields:
            raw = field.encode()
            out += struct.pack(">I", len(raw)) + raw
        return bytes(out)


@dataclass(frozen=True, slots=True)
class ParsedEnvelope:
    header: bytes
    algorithm: int
    kid: int
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def associated_data(header: bytes, binding: Binding) -> bytes:
    return AAD_CONTEXT + header + binding.encode()


def _header(algorithm: int, kid: int, wrapped_len: int) -> bytes:
    return struct.pack(HEADER_FORMAT, MAGIC, VERSION, algorithm, kid, wrapped_len)


def seal(secret: bytes, *, public_key: rsa.RSAPublicKey, kid: int, binding: Binding) -> bytes:
    """Encrypt `secret` for `binding` under the RSA public key named `kid`."""
    if not 0 < len(secret) <= MAX_SECRET_BYTES:
        raise ValueError(f"secret must be 1..{MAX_SECRET_BYTES} bytes")
    if not 0 < kid < 2**32:
        raise ValueError("kid must be a positive 32-bit integer")
    data_key = AESGCM.generate_key(bit_length=256)
    wrapped = public_key.encrypt(data_key, OAEP_SHA256)
    header = _header(Algorithm.RSA_OAEP_256_A256GCM, kid, len(wrapped))
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, secret, associated_data(header, binding))
    return header + wrapped + nonce + ciphertext


def parse(envelope: bytes) -> ParsedEnvelope:
    """Split an envelope into its parts. Refuses any version or algorithm but the one we use,
    so a caller can reject a downgraded header before any RSA operation."""
    if len(envelope) < HEADER_LENGTH:
        raise EnvelopeFormatError("envelope shorter than its header")
    header = envelope[:HEADER_LENGTH]
    magic, version, algorithm, kid, wrapped_len = struct.unpack(HEADER_FORMAT, header)
    if magic != MAGIC or version != VERSION:
        raise EnvelopeFormatError("unknown envelope magic or version")
    if algorithm != Algorithm.RSA_OAEP_256_A256GCM:
        raise EnvelopeFormatError("envelope names an algorithm that is not accepted")
    body = envelope[HEADER_LENGTH:]
    if len(body) < wrapped_len + NONCE_BYTES + TAG_BYTES + 1:
        raise EnvelopeFormatError("envelope body too short")
    nonce_at = wrapped_len
    ciphertext_at = nonce_at + NONCE_BYTES
    return ParsedEnvelope(
        header=header,
        algorithm=algorithm,
        kid=kid,
        wrapped_key=body[:nonce_at],
        nonce=body[nonce_at:ciphertext_at],
        ciphertext=body[ciphertext_at:],
    )
