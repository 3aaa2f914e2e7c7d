"""Strict JSON schemas for the cert-manager objects the overlays use (cert-manager.io/v1).

kubernetes-validate knows only built-in kinds. These schemas follow cert-manager's own CRDs for
the fields we set, and, like the strict built-in schemas, refuse any field they do not name, so a
typo in a Certificate fails here rather than in the cluster.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CUSTOM_SCHEMAS"]

Schema = dict[str, Any]

_USAGES = [
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
    "server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system",
    "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc",
]  # fmt: skip


def _object(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_STRING: Schema = {"type": "string"}
_STRINGS: Schema = {"type": "array", "items": _STRING}
_METADATA: Schema = {"type": "object", "required": ["name"], "properties": {"name": _STRING}}
_ISSUER_REF = _object({"name": _STRING, "kind": _STRING, "group": _STRING}, ("name",))


def _kind(kind: str, spec: Schema) -> Schema:
    return _object(
        {
            "apiVersion": {"const": "cert-manager.io/v1"},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        ("apiVersion", "kind", "metadata", "spec"),
    )


CERTIFICATE = _kind(
    "Certificate",
    _object(
        {
            "secretName": _STRING,
            "issuerRef": _ISSUER_REF,
            "commonName": _STRING,
            "dnsNames": _STRINGS,
            "uris": _STRINGS,
            "ipAddresses": _STRINGS,
            "emailAddresses": _STRINGS,
            "isCA": {"type": "boolean"},
            "duration": _STRING,
            "renewBefore": _STRING,
            "revisionHistoryLimit": {"type": "integer"},
            "usages": {"type": "array", "items": {"enum": _USAGES}},
            "privateKey": _object(
                {
                    "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                    "encoding": {"enum": ["PKCS1", "PKCS8"]},
                    "rotationPolicy": {"enum": ["Never", "Always"]},
                    "size": {"type": "integer"},
                }
            ),
            "secretTemplate": _object({"annotations": {"type": "object"}, "labels": {"type": "object"}}),
        },
        ("secretName", "issuerRef"),
    ),
)

ISSUER = _kind(
    "Issuer",
    {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            "selfSigned": _object({"crlDistributionPoints": _STRINGS}),
            "ca": _object(
                {"secretName": _STRING, "crlDistributionPoints": _STRINGS, "ocspServers": _STRINGS},
                ("secretName",),
            ),
        },
    },
)

CUSTOM_SCHEMAS: dict[tuple[str, str], Schema] = {
    ("cert-manager.io/v1", "Certificate"): CERTIFICATE,
    ("cert-manager.io/v1", "Issuer"): ISSUER,
}
