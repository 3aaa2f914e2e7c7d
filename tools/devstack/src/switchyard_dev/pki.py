"""A development certificate authority and one certificate per service identity.

`python -m switchyard_dev.pki DIR` writes ca.pem and <name>.pem/<name>-key.pem for every
service (private files mode 0600), leaving existing files alone. Tests use the same functions
to mint the odd certificates they need (rogue CA, expired, CN without SAN).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRUST_DOMAIN = "switchyard"
# Every workload identity the platform issues; the SAN URI is spiffe://switchyard/<name>.
SERVICES = ("keyvault", "router", "chat-api", "key-rotation")
PRIVATE_MODE = 0o600


def spiffe_id(name: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/{name}"


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_authority(common_name: str = "Switchyard dev CA") -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Authority(cert=cert, key=key)


def issue(
    ca: Authority,
    common_name: str,
    *,
    spiffe_ids: tuple[str, ...] = (),
    valid_days: float = 825,
    not_before: dt.datetime | None = None,
) -> Issued:
    """A certificate usable as both TLS server and client, valid for localhost and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or _now() - dt.timedelta(minutes=5)
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        *(x509.UniformResourceIdentifier(uri) for uri in spiffe_ids),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_key_pem(key))


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, PRIVATE_MODE)


def write_issued(directory: Path, name: str, issued: Issued) -> None:
    (directory / f"{name}.pem").write_bytes(issued.cert_pem)
    write_private(directory / f"{name}-key.pem", issued.key_pem)


def ensure_dev_pki(directory: Path) -> list[str]:
    """Create the CA and every service certificate that is missing; return what was created."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_cert, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    created: list[str] = []
    if ca_cert.exists() and ca_key.exists():
        key = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        ca = Authority(cert=x509.load_pem_x509_certificate(ca_cert.read_bytes()), key=key)
    else:
        ca = new_authority()
        ca_cert.write_bytes(ca.pem)
        write_private(ca_key, _key_pem(ca.key))
        created.append("ca")
    for name in SERVICES:
        if not (directory / f"{name}.pem").exists():
            write_issued(directory, name, issue(ca, name, spiffe_ids=(spiffe_id(name),)))
            created.append(name)
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m switchyard_dev.pki", description=__doc__)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    created = ensure_dev_pki(args.directory)
    print(f"dev PKI in {args.directory}: " + (f"created {', '.join(created)}" if created else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
