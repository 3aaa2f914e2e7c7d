"""Mutual TLS between services: credentials from files and the caller's SPIFFE identity.

Identity is the certificate's SAN URI (e.g. spiffe://switchyard/router), never the CN and never
request metadata: only the SAN is bound to the CA's signature over what the service may be.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509

__all__ = [
    "TLSFiles",
    "channel_credentials",
    "server_credentials",
    "spiffe_ids_from_auth_context",
    "spiffe_ids_from_pem",
]

SPIFFE_SCHEME = "spiffe://"


@dataclass(frozen=True, slots=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes, bytes]:
        return self.ca.read_bytes(), self.cert.read_bytes(), self.key.read_bytes()


def server_credentials(files: TLSFiles) -> grpc.ServerCredentials:
    """Server side: present our certificate and require a client certificate from the CA."""
    ca, cert, key = files.read()
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)


def channel_credentials(files: TLSFiles) -> grpc.ChannelCredentials:
    """Client side: verify the server against the CA and present our own certificate."""
    ca, cert, key = files.read()
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


@functools.lru_cache(maxsize=256)
def spiffe_ids_from_pem(pem: bytes) -> frozenset[str]:
    """The SPIFFE URIs among a certificate's SAN entries (empty when it has none). Cached: the
    same few peer certificates arrive with every call, and parsing one costs more than the call."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, x509.ExtensionNotFound):
        return frozenset()
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return frozenset(uri for uri in uris if uri.startswith(SPIFFE_SCHEME))


def spiffe_ids_from_auth_context(auth_context: Mapping[str, Iterable[bytes]]) -> frozenset[str]:
    """Read the verified peer certificate from a gRPC auth context; no certificate → no identity."""
    pems = list(auth_context.get("x509_pem_cert", ()))
    if len(pems) != 1:
        return frozenset()
    return spiffe_ids_from_pem(pems[0])
