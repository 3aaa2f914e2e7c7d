"""Opening envelopes: RSA-OAEP unwrap of the data key, then AES-256-GCM.

Every failure raises DecryptionFailed whose message is the same for all of them; the reason is
kept apart (for the audit log only) so nothing a caller sees can act as a padding oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyvault.keyring import KeyRing
from switchyard_common.envelope import (
    DATA_KEY_BYTES,
    NONCE_BYTES,
    OAEP_SHA256,
    Binding,
    EnvelopeFormatError,
    associated_data,
    parse,
)

__all__ = [
    "DecryptionFailed",
    "Opened",
    "UNIFORM_MESSAGE",
    "aes_gcm_open",
    "open_envelope",
    "rsa_oaep_unwrap",
]

UNIFORM_MESSAGE = "envelope could not be decrypted"


class DecryptionFailed(Exception):
    """Any reason an envelope did not open. str() is uniform; `reason` is for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(UNIFORM_MESSAGE)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Opened:
    secret: bytes
    kid: int


def rsa_oaep_unwrap(private_key: rsa.RSAPrivateKey, wrapped: bytes, *, label: bytes | None = None) -> bytes:
    """RSA-OAEP (SHA-256, MGF1-SHA-256) decryption."""
    if len(wrapped) != private_key.key_size // 8:
        raise DecryptionFailed("wrapped key length does not match the RSA modulus")
    oaep = OAEP_SHA256
    if label:
        oaep = padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label
        )
    try:
        return private_key.decrypt(wrapped, oaep)
    except ValueError:
        raise DecryptionFailed("RSA-OAEP decryption failed") from None


def aes_gcm_open(key: bytes, nonce: bytes, ciphertext_and_tag: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a 96-bit nonce and a 128-bit tag; nothing else is accepted."""
    if len(key) != DATA_KEY_BYTES:
        raise DecryptionFailed("data key is not 256 bits")
    if len(nonce) != NONCE_BYTES:
        raise DecryptionFailed("nonce is not 96 bits")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext_and_tag, aad)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("AES-GCM authentication failed") from None


def open_envelope(keyring: KeyRing, envelope: bytes, binding: Binding) -> Opened:
    """Parse, check algorithm and kid (before any RSA operation), unwrap, decrypt."""
    try:
        parsed = parse(envelope)
    except EnvelopeFormatError as exc:
        raise DecryptionFailed(f"malformed envelope: {exc}") from None
    private_key = keyring.usable(parsed.kid)
    if private_key is None:
        raise DecryptionFailed(f"kid {parsed.kid} unknown or below the floor {keyring.min_kid}")
    data_key = rsa_oaep_unwrap(private_key, parsed.wrapped_key)
    aad = associated_data(parsed.header, binding)
    secret = aes_gcm_open(data_key, parsed.nonce, parsed.ciphertext, aad)
    return Opened(secret=secret, kid=parsed.kid)
