"""Project Wycheproof vectors fed through keyvault's own unwrap / decrypt functions.

The vectors are in `tests/keyvault/vectors/wycheproof` (upstream commit and licence in its README).
They are an external suite: if a file is missing the tests fail, they never skip.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from keyvault.unwrap import UNIFORM_MESSAGE, DecryptionFailed, aes_gcm_open, rsa_oaep_unwrap

VECTORS_DIR = Path(__file__).resolve().parent / "vectors" / "wycheproof"

OAEP_2048 = "rsa_oaep_2048_sha256_mgf1sha256_test.json"
OAEP_3072 = "rsa_oaep_3072_sha256_mgf1sha256_test.json"
AES_GCM = "aes_gcm_test.json"
PKCS1 = "rsa_pkcs1_2048_test.json"
ALL_FILES = (OAEP_2048, OAEP_3072, AES_GCM, PKCS1)

# The only AES-GCM parameters the envelope uses (and aes_gcm_open accepts).
GCM_KEY_BITS, GCM_IV_BITS, GCM_TAG_BITS = 256, 96, 128
# From the vectors' README: the AES-256 / 96-bit nonce / 128-bit tag subset of aes_gcm_test.json.
GCM_SELECTED_CASES = 66

Vector = dict[str, Any]


def _load(name: str) -> Vector | None:
    path = VECTORS_DIR / name
    if not path.is_file():
        return None
    document: Vector = json.loads(path.read_text())
    return document


@functools.cache
def _document(name: str) -> Vector | None:
    return _load(name)


def _missing_param(name: str) -> list[Any]:
    # A single case that fails, so a missing file is a failure rather than an empty (skipped) set.
    return [pytest.param(None, None, id=f"MISSING-{name}")]


def _rsa_params(name: str) -> list[Any]:
    document = _document(name)
    if document is None:
        return _missing_param(name)
    return [
        pytest.param(group["privateKeyPem"], test, id=f"tcId{test['tcId']}")
        for group in document["testGroups"]
        for test in group["tests"]
    ]


def _is_selected_gcm(group: Vector) -> bool:
    return (group["keySize"], group["ivSize"], group["tagSize"]) == (GCM_KEY_BITS, GCM_IV_BITS, GCM_TAG_BITS)


def _gcm_params(*, selected: bool) -> list[Any]:
    document = _document(AES_GCM)
    if document is None:
        return _missing_param(AES_GCM)
    return [
        pytest.param((group["keySize"], group["ivSize"], group["tagSize"]), test, id=f"tcId{test['tcId']}")
        for group in document["testGroups"]
        if _is_selected_gcm(group) == selected
        for test in group["tests"]
    ]


OAEP_2048_PARAMS = _rsa_params(OAEP_2048)
OAEP_3072_PARAMS = _rsa_params(OAEP_3072)
PKCS1_PARAMS = _rsa_params(PKCS1)
GCM_PARAMS = _gcm_params(selected=True)
GCM_OTHER_PARAMS = _gcm_params(selected=False)


def _require(value: Any, name: str) -> Any:
    if value is None:
        pytest.fail(f"Wycheproof vector file {VECTORS_DIR / name} is missing")
    return value


@functools.cache
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _assert_uniform(exc: DecryptionFailed) -> None:
    assert type(exc) is DecryptionFailed
    assert str(exc) == UNIFORM_MESSAGE
    assert exc.args == (UNIFORM_MESSAGE,)


def _check_oaep(pem: str | None, test: Vector | None, name: str) -> None:
    pem = _require(pem, name)
    test = _require(test, name)
    key = _private_key(pem)
    ct, msg, label = (bytes.fromhex(test[field]) for field in ("ct", "msg", "label"))
    result = test["result"]
    assert result in {"valid", "invalid", "acceptable"}
    if result == "valid":
        assert rsa_oaep_unwrap(key, ct, label=label) == msg
    elif result == "invalid":
        with pytest.raises(DecryptionFailed) as info:
            rsa_oaep_unwrap(key, ct, label=label)
        _assert_uniform(info.value)
    else:
        # Either outcome is allowed; any other exception escapes and fails the test.
        try:
            rsa_oaep_unwrap(key, ct, label=label)
        except DecryptionFailed as exc:
            _assert_uniform(exc)


@pytest.mark.parametrize(("pem", "test"), OAEP_2048_PARAMS)
def test_rsa_oaep_2048(pem: str | None, test: Vector | None) -> None:
    _check_oaep(pem, test, OAEP_2048)


@pytest.mark.parametrize(("pem", "test"), OAEP_3072_PARAMS)
def test_rsa_oaep_3072(pem: str | None, test: Vector | None) -> None:
    _check_oaep(pem, test, OAEP_3072)


@pytest.mark.parametrize(("pem", "test"), PKCS1_PARAMS)
def test_rsa_pkcs1_v15_is_always_refused(pem: str | None, test: Vector | None) -> None:
    """We accept OAEP only: every PKCS#1 v1.5 ciphertext is refused, even a well-formed one."""
    pem = _require(pem, PKCS1)
    test = _require(test, PKCS1)
    key = _private_key(pem)
    ct = bytes.fromhex(test["ct"])
    if test["result"] == "valid":
        # Control: the key and ciphertext are loaded right, so the refusal below means something.
        assert key.decrypt(ct, padding.PKCS1v15()) == bytes.fromhex(test["msg"])
    with pytest.raises(DecryptionFailed) as info:
        rsa_oaep_unwrap(key, ct)
    _assert_uniform(info.value)


@pytest.mark.parametrize(("params", "test"), GCM_PARAMS)
def test_aes_256_gcm(params: tuple[int, int, int] | None, test: Vector | None) -> None:
    params = _require(params, AES_GCM)
    test = _require(test, AES_GCM)
    assert params == (GCM_KEY_BITS, GCM_IV_BITS, GCM_TAG_BITS)
    key, iv, aad, msg, ct, tag = (
        bytes.fromhex(test[field]) for field in ("key", "iv", "aad", "msg", "ct", "tag")
    )
    result = test["result"]
    assert result in {"valid", "invalid", "acceptable"}
    if result == "valid":
        assert aes_gcm_open(key, iv, ct + tag, aad) == msg
    elif result == "invalid":
        with pytest.raises(DecryptionFailed) as info:
            aes_gcm_open(key, iv, ct + tag, aad)
        _assert_uniform(info.value)
    else:
        try:
            aes_gcm_open(key, iv, ct + tag, aad)
        except DecryptionFailed as exc:
            _assert_uniform(exc)


@pytest.mark.parametrize(("params", "test"), GCM_OTHER_PARAMS)
def test_aes_gcm_other_sizes_are_refused(params: tuple[int, int, int] | None, test: Vector | None) -> None:
    """AES-128/192 keys and non-96-bit nonces are refused even when the vector is valid."""
    params = _require(params, AES_GCM)
    test = _require(test, AES_GCM)
    assert params != (GCM_KEY_BITS, GCM_IV_BITS, GCM_TAG_BITS)
    key, iv, aad, ct, tag = (bytes.fromhex(test[field]) for field in ("key", "iv", "aad", "ct", "tag"))
    with pytest.raises(DecryptionFailed) as info:
        aes_gcm_open(key, iv, ct + tag, aad)
    _assert_uniform(info.value)


@pytest.mark.parametrize("name", ALL_FILES)
def test_vector_file_is_present(name: str) -> None:
    assert _load(name) is not None, f"missing {VECTORS_DIR / name}"


@pytest.mark.parametrize(
    ("name", "params"),
    [(OAEP_2048, OAEP_2048_PARAMS), (OAEP_3072, OAEP_3072_PARAMS), (PKCS1, PKCS1_PARAMS)],
)
def test_every_rsa_case_is_parametrized(name: str, params: list[Any]) -> None:
    document = _require(_load(name), name)
    ids = [p.id for p in params]
    assert len(params) == document["numberOfTests"] > 0
    assert len(set(ids)) == len(ids)
    results = {p.values[1]["result"] for p in params}
    if name == PKCS1:
        assert "valid" in results  # the "even valid PKCS#1" claim is exercised
    else:
        assert {"valid", "invalid"} <= results


def test_every_aes_gcm_case_is_parametrized() -> None:
    document = _require(_load(AES_GCM), AES_GCM)
    assert len(GCM_PARAMS) == GCM_SELECTED_CASES
    assert len(GCM_PARAMS) + len(GCM_OTHER_PARAMS) == document["numberOfTests"]
    ids = [p.id for p in GCM_PARAMS + GCM_OTHER_PARAMS]
    assert len(set(ids)) == len(ids)
    assert {p.values[1]["result"] for p in GCM_PARAMS} >= {"valid", "invalid"}
