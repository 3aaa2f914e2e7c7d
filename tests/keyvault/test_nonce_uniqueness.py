"""seal() uses a fresh random nonce and a fresh data key every time.

Reading the data keys back out of 65536 envelopes would take 65536 RSA-3072 decrypts (a minute or
more). Instead a recording stand-in for `AESGCM` inside switchyard_common.envelope notes every key
that seal generates and every (key, nonce) it encrypts with; the AES-GCM work itself is delegated
to the real AESGCM, and the RSA wrapping is done by the real public key (it is cheap: e = 65537).
A second test, on a smaller sample, unwraps the envelopes with the private key and checks the
recorder against what really went into them, so the recorder is proven faithful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import switchyard_common.envelope as envelope_module
from keyvault.keyring import KeyRing, load_keyring
from keyvault.unwrap import aes_gcm_open, open_envelope, rsa_oaep_unwrap
from switchyard_common.envelope import NONCE_BYTES, Binding, OwnerType, associated_data, parse, seal

KID = 1
BINDING = Binding("cred-1", OwnerType.USER, "user-1", "openai")
SEALS = 2**16
SAMPLE = 256


@dataclass
class Recorder:
    generated: list[bytes] = field(default_factory=list)  # from AESGCM.generate_key
    constructed: list[bytes] = field(default_factory=list)  # keys passed to AESGCM(key)
    nonces: list[bytes] = field(default_factory=list)  # nonces passed to .encrypt


def install_recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Replace envelope.AESGCM (a Rust class that cannot be subclassed) with a recording proxy."""
    recorder = Recorder()

    class RecordingAESGCM:
        @staticmethod
        def generate_key(bit_length: int) -> bytes:
            key = AESGCM.generate_key(bit_length)
            recorder.generated.append(key)
            return key

        def __init__(self, key: bytes) -> None:
            recorder.constructed.append(bytes(key))
            self._inner = AESGCM(key)

        def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
            recorder.nonces.append(bytes(nonce))
            return self._inner.encrypt(nonce, data, associated_data)

    monkeypatch.setattr(envelope_module, "AESGCM", RecordingAESGCM)
    return recorder


@pytest.fixture(scope="module")
def ring(shared_keys_dir: Path) -> KeyRing:
    return load_keyring(shared_keys_dir, min_kid=1, passphrase_file=None)


def _seal_many(public: rsa.RSAPublicKey, count: int) -> list[bytes]:
    return [seal(b"sk-%d" % i, public_key=public, kid=KID, binding=BINDING) for i in range(count)]


def test_65536_seals_use_distinct_nonces_and_data_keys(
    monkeypatch: pytest.MonkeyPatch, ring: KeyRing
) -> None:
    recorder = install_recorder(monkeypatch)
    public = ring.keys[KID].public_key()
    nonces: set[bytes] = set()
    for i in range(SEALS):
        envelope = seal(b"sk-%d" % i, public_key=public, kid=KID, binding=BINDING)
        nonce = parse(envelope).nonce
        assert len(nonce) == NONCE_BYTES
        nonces.add(nonce)
    # Exactly one data key per seal, and it is the key the secret was encrypted with.
    assert len(recorder.generated) == len(recorder.constructed) == len(recorder.nonces) == SEALS
    assert recorder.generated == recorder.constructed
    assert all(len(key) == 32 for key in recorder.generated)
    assert len(nonces) == SEALS
    assert len(set(recorder.nonces)) == SEALS
    assert len(set(recorder.generated)) == SEALS


def test_recorder_matches_what_the_envelopes_really_hold(
    monkeypatch: pytest.MonkeyPatch, ring: KeyRing
) -> None:
    """Unwrap a sample for real: the recorded keys and nonces are the ones in the envelopes."""
    recorder = install_recorder(monkeypatch)
    private = ring.keys[KID]
    envelopes = _seal_many(private.public_key(), SAMPLE)
    assert len(recorder.constructed) == len(recorder.nonces) == SAMPLE

    unwrapped: list[bytes] = []
    for i, envelope in enumerate(envelopes):
        parsed = parse(envelope)
        data_key = rsa_oaep_unwrap(private, parsed.wrapped_key)
        assert data_key == recorder.constructed[i]
        assert parsed.nonce == recorder.nonces[i]
        secret = b"sk-%d" % i
        aad = associated_data(parsed.header, BINDING)
        assert aes_gcm_open(data_key, parsed.nonce, parsed.ciphertext, aad) == secret
        assert open_envelope(ring, envelope, BINDING).secret == secret
        unwrapped.append(data_key)
    assert len(set(unwrapped)) == SAMPLE
    assert len({parse(e).nonce for e in envelopes}) == SAMPLE
