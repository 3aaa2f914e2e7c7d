"""Create and list keyvault's RSA key files: `python -m keyvault.keys generate|list`."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keyvault.keyring import ALLOWED_KEY_BITS, KeyRingError, key_path, load_keyring, read_passphrase

__all__ = ["generate_key", "main", "public_key_fingerprint"]

DEFAULT_BITS = 3072
PRIVATE_FILE_MODE = 0o600


def public_key_fingerprint(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()[:32]


def _next_kid(keys_dir: Path) -> int:
    kids = [int(p.stem.removeprefix("kid-")) for p in keys_dir.glob("kid-*.pem")]
    return max(kids, default=0) + 1


def generate_key(keys_dir: Path, *, bits: int = DEFAULT_BITS, passphrase_file: Path | None = None) -> int:
    """Write a new private key as the next kid (mode 0600, never overwriting); return its kid."""
    if bits not in ALLOWED_KEY_BITS:
        raise ValueError(f"key size must be one of {ALLOWED_KEY_BITS}")
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    passphrase = read_passphrase(passphrase_file)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    kid = _next_kid(keys_dir)
    # O_EXCL: two concurrent generators can never overwrite each other's key.
    fd = os.open(key_path(keys_dir, kid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return kid


def _list(keys_dir: Path, passphrase_file: Path | None, min_kid: int) -> None:
    ring = load_keyring(keys_dir, min_kid=min_kid, passphrase_file=passphrase_file)
    for kid in sorted(ring.keys):
        key = ring.keys[kid]
        flags = []
        if kid == ring.newest_kid:
            flags.append("encrypts")
        if ring.usable(kid) is None:
            flags.append("refused: below min kid")
        note = f"  ({', '.join(flags)})" if flags else ""
        print(f"kid {kid}  RSA-{key.key_size}  {public_key_fingerprint(key)}{note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keyvault.keys", description=__doc__)
    parser.add_argument("command", choices=["generate", "list"])
    parser.add_argument(
        "--dir",
        type=Path,
        default=os.environ.get("KEYVAULT_KEYS_DIR"),
        help="key directory (default: $KEYVAULT_KEYS_DIR)",
    )
    parser.add_argument("--bits", type=int, default=DEFAULT_BITS, choices=ALLOWED_KEY_BITS)
    parser.add_argument(
        "--passphrase-file", type=Path, default=os.environ.get("KEYVAULT_KEY_PASSPHRASE_FILE") or None
    )
    parser.add_argument("--min-kid", type=int, default=int(os.environ.get("KEYVAULT_MIN_KID", "1")))
    parser.add_argument(
        "--if-empty",
        action="store_true",
        help="generate only when the directory holds no key (for dev setup)",
    )
    args = parser.parse_args(argv)
    if args.dir is None:
        parser.error("--dir or KEYVAULT_KEYS_DIR is required")
    try:
        if args.command == "generate":
            if args.if_empty and args.dir.is_dir() and any(args.dir.glob("kid-*.pem")):
                return 0
            kid = generate_key(args.dir, bits=args.bits, passphrase_file=args.passphrase_file)
            print(f"generated kid {kid} (RSA-{args.bits}) in {args.dir}")
        else:
            _list(args.dir, args.passphrase_file, args.min_kid)
    except (KeyRingError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
