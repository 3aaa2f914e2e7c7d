"""The loaded RSA private keys, by kid: the newest encrypts, the floor refuses old envelopes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["KeyRing", "KeyRingError", "key_path", "load_keyring", "ALLOWED_KEY_BITS"]

KEY_FILE = re.compile(r"^kid-(\d+)\.pem$")
ALLOWED_KEY_BITS = (2048, 3072, 4096)


class KeyRingError(Exception):
    """The key directory cannot be loaded. Messages name files, never key material."""


def key_path(keys_dir: Path, kid: int) -> Path:
    return keys_dir / f"kid-{kid}.pem"


@dataclass(frozen=True)
class KeyRing:
    keys: dict[int, rsa.RSAPrivateKey]
    min_kid: int

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyRingError("no private keys loaded")
        if self.newest_kid < self.min_kid:
            raise KeyRingError(f"min_kid {self.min_kid} is above the newest key {self.newest_kid}")

    @property
    def newest_kid(self) -> int:
        return max(self.keys)

    def newest(self) -> tuple[int, rsa.RSAPrivateKey]:
        return self.newest_kid, self.keys[self.newest_kid]

    def usable(self, kid: int) -> rsa.RSAPrivateKey | None:
        """The key for `kid`, or None when it is unknown or below the floor."""
        if kid < self.min_kid:
            return None
        return self.keys.get(kid)

    def with_min_kid(self, min_kid: int) -> KeyRing:
        return KeyRing(keys=self.keys, min_kid=min_kid)


def read_passphrase(path: Path | None) -> bytes | None:
    if path is None:
        return None
    return path.read_bytes().rstrip(b"\r\n") or None


def load_keyring(keys_dir: Path, *, min_kid: int, passphrase_file: Path | None) -> KeyRing:
    """Load every kid-<n>.pem in `keys_dir`."""
    if not keys_dir.is_dir():
        raise KeyRingError(f"key directory {keys_dir} does not exist")
    passphrase = read_passphrase(passphrase_file)
    keys: dict[int, rsa.RSAPrivateKey] = {}
    for path in sorted(keys_dir.iterdir()):
        match = KEY_FILE.match(path.name)
        if not match:
            continue
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
        except (ValueError, TypeError) as exc:
            # cryptography's messages never contain key material or the passphrase.
            raise KeyRingError(f"cannot load {path.name}: wrong passphrase or not a key") from exc
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size not in ALLOWED_KEY_BITS:
            raise KeyRingError(f"{path.name} is not an RSA key of {ALLOWED_KEY_BITS} bits")
        keys[int(match.group(1))] = key
    return KeyRing(keys=keys, min_kid=min_kid)
