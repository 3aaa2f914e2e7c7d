"""A credential's `Binding` as the keyvault protobuf message: the one owner-type vocabulary on the wire.

keyvault, the router (Chat, VerifyCredential, invalid-key events) and chat-api (leases, revocation
events, rotation) all speak `keyvault.v1.OwnerType`; these maps are the only translation.
"""

from __future__ import annotations

from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import Binding, OwnerType

__all__ = ["OWNER_TYPES", "OWNER_TYPE_MESSAGES", "binding_from_message", "binding_message"]

OWNER_TYPE_MESSAGES: dict[OwnerType, keyvault_pb2.OwnerType] = {
    OwnerType.USER: keyvault_pb2.OWNER_TYPE_USER,
    OwnerType.ORG: keyvault_pb2.OWNER_TYPE_ORG,
}
OWNER_TYPES: dict[keyvault_pb2.OwnerType, OwnerType] = {
    message: owner_type for owner_type, message in OWNER_TYPE_MESSAGES.items()
}


def binding_message(binding: Binding) -> keyvault_pb2.Binding:
    return keyvault_pb2.Binding(
        credential_id=binding.credential_id,
        owner_type=OWNER_TYPE_MESSAGES[binding.owner_type],
        owner_id=binding.owner_id,
        provider=binding.provider,
    )


def binding_from_message(message: keyvault_pb2.Binding) -> Binding:
    """Raises ValueError for an incomplete binding (a malformed request, not a decrypt failure)."""
    owner_type = OWNER_TYPES.get(message.owner_type)
    if owner_type is None:
        raise ValueError("binding.owner_type must be USER or ORG")
    return Binding(
        credential_id=message.credential_id,
        owner_type=owner_type,
        owner_id=message.owner_id,
        provider=message.provider,
    )
