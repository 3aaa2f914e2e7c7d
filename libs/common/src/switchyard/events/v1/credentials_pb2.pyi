import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from switchyard.keyvault.v1 import keyvault_pb2 as _keyvault_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CredentialRevoked(_message.Message):
    __slots__ = ("event_id", "credential_id", "owner_type", "owner_id", "provider", "revoked_at", "reason")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_TYPE_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    credential_id: str
    owner_type: _keyvault_pb2.OwnerType
    owner_id: str
    provider: str
    revoked_at: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, event_id: _Optional[str] = ..., credential_id: _Optional[str] = ..., owner_type: _Optional[_Union[_keyvault_pb2.OwnerType, str]] = ..., owner_id: _Optional[str] = ..., provider: _Optional[str] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class CredentialInvalid(_message.Message):
    __slots__ = ("event_id", "credential_id", "owner_type", "owner_id", "provider", "observed_at", "provider_status")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_TYPE_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_STATUS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    credential_id: str
    owner_type: _keyvault_pb2.OwnerType
    owner_id: str
    provider: str
    observed_at: _timestamp_pb2.Timestamp
    provider_status: int
    def __init__(self, event_id: _Optional[str] = ..., credential_id: _Optional[str] = ..., owner_type: _Optional[_Union[_keyvault_pb2.OwnerType, str]] = ..., owner_id: _Optional[str] = ..., provider: _Optional[str] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider_status: _Optional[int] = ...) -> None: ...
