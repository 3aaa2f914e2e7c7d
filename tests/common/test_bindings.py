"""The owner-type vocabulary: one pair of maps in switchyard_common, and no copy of them elsewhere.

The check covers router.proto's chat enums too (switchyard_common.chat_vocabulary): a second copy
of any of these maps drifts from the first.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import switchyard_common
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.bindings import OWNER_TYPE_MESSAGES, OWNER_TYPES, binding_from_message, binding_message
from switchyard_common.envelope import Binding, OwnerType

ROOT = Path(__file__).resolve().parents[2]
COMMON = Path(switchyard_common.__file__).parent
# Owner types in every spelling the code has used (the domain enum, keyvault's OwnerType,
# router.proto's retired Scope) and router.proto's chat enums: roles, key sources, finish reasons.
VOCABULARY_MEMBER = re.compile(r"^(?:OWNER_TYPE|SCOPE|ROLE|KEY_SOURCE|FINISH_REASON)_[A-Z_]+$")


def test_the_owner_type_maps_are_each_others_inverse_and_complete() -> None:
    assert set(OWNER_TYPE_MESSAGES) == set(OwnerType)
    assert set(OWNER_TYPES) == set(keyvault_pb2.OwnerType.values()) - {keyvault_pb2.OWNER_TYPE_UNSPECIFIED}
    assert all(OWNER_TYPES[message] is owner_type for owner_type, message in OWNER_TYPE_MESSAGES.items())


@pytest.mark.parametrize("owner_type", list(OwnerType))
def test_a_binding_survives_the_wire(owner_type: OwnerType) -> None:
    binding = Binding("cred-1", owner_type, "owner-1", "openai")
    assert binding_from_message(binding_message(binding)) == binding


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (keyvault_pb2.Binding(credential_id="c", owner_id="o", provider="p"), "owner_type"),
        (
            keyvault_pb2.Binding(owner_type=keyvault_pb2.OWNER_TYPE_USER, credential_id="c", owner_id="o"),
            "provider",
        ),
    ],
)
def test_an_incomplete_binding_is_refused(message: keyvault_pb2.Binding, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        binding_from_message(message)


def _is_member(node: ast.expr | None) -> bool:
    """`OwnerType.USER`, `keyvault_pb2.OWNER_TYPE_ORG`, `router_pb2.KEY_SOURCE_USER`, …"""
    if not isinstance(node, ast.Attribute):
        return False
    enum = node.value
    named_owner_type = isinstance(enum, ast.Name | ast.Attribute) and (
        (enum.id if isinstance(enum, ast.Name) else enum.attr) == "OwnerType"
    )
    return named_owner_type or bool(VOCABULARY_MEMBER.match(node.attr))


def _members_named(entries: ast.Dict) -> int:
    pairs = zip(entries.keys, entries.values, strict=True)
    return sum(_is_member(key) or _is_member(value) for key, value in pairs)


def _vocabulary_maps(source: str) -> list[int]:
    """Lines of dict literals that translate the vocabulary: two or more entries name a member."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Dict) and _members_named(node) >= 2
    ]


@pytest.mark.parametrize(
    ("source", "is_a_map"),
    [
        ('OWNER_TYPES = {"user": keyvault_pb2.OWNER_TYPE_USER, "org": keyvault_pb2.OWNER_TYPE_ORG}', True),
        ("OWNER_TYPES = {keyvault_pb2.OWNER_TYPE_USER: OwnerType.USER, 2: OwnerType.ORG}", True),
        ("x = {envelope.OwnerType.USER: 1, envelope.OwnerType.ORG: 2}", True),
        ('SOURCES = {router_pb2.KEY_SOURCE_USER: "user", router_pb2.KEY_SOURCE_ORG: "org"}', True),
        ('SCOPES = {"user": router_pb2.SCOPE_USER, "org": router_pb2.SCOPE_ORG}', True),
        ('fields = {"owner_type": OwnerType.USER, "owner_id": "user-1"}', False),
        ('REASONS = {"stop": router_pb2.FINISH_REASON_STOP, "other": router_pb2.FINISH_REASON_OTHER}', True),
        ('ROLES = {**ROLE_MESSAGES, "developer": router_pb2.ROLE_SYSTEM}', False),
        ("ERRORS = {Kind.A: router_pb2.ERROR_TYPE_A, Kind.B: router_pb2.ERROR_TYPE_B}", False),
        ("with anyio.CancelScope(shield=True): pass", False),
    ],
)
def test_the_map_check_finds_what_it_must(source: str, is_a_map: bool) -> None:
    assert bool(_vocabulary_maps(source)) is is_a_map


def test_only_switchyard_common_translates_owner_types_and_chat_enums() -> None:
    """Every service speaks one vocabulary: a second copy of a map drifts from the first."""
    for module in ("bindings.py", "chat_vocabulary.py"):  # the check sees the real maps
        assert _vocabulary_maps((COMMON / module).read_text())
    sources = [
        path
        for folder in ("services", "libs", "bench", "tools", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not path.is_relative_to(COMMON)
    ]
    assert ROOT / "services" / "router" / "src" / "router" / "servicer.py" in sources
    offenders = [
        f"{path.relative_to(ROOT)}:{line}" for path in sources for line in _vocabulary_maps(path.read_text())
    ]
    assert offenders == []
