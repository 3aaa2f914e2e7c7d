"""A credential's `Binding` as the keyvault protobuf message every gRPC caller sends."""

from __future__ import annotations

from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import Binding, OwnerType

__all__ = ["OWNER_TYPE_MESSAGES", "binding_message"]

OWNER_TYPE_MESSAGES = {
    OwnerType.USER: keyvault_pb2.OWNER_TYPE_USER,
    OwnerType.ORG: keyvault_pb2.OWNER_TYPE_ORG,
}


def binding_message(binding: Binding) -> keyvault_pb2.Binding:
    return keyvault_pb2.Binding(
        credential_id=binding.credential_id,
        owner_type=OWNER_TYPE_MESSAGES[binding.owner_type],
        owner_id=binding.owner_id,
        provider=binding.provider,
    )
