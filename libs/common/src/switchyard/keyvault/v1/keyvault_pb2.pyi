from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OwnerType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OWNER_TYPE_UNSPECIFIED: _ClassVar[OwnerType]
    OWNER_TYPE_USER: _ClassVar[OwnerType]
    OWNER_TYPE_ORG: _ClassVar[OwnerType]
OWNER_TYPE_UNSPECIFIED: OwnerType
OWNER_TYPE_USER: OwnerType
OWNER_TYPE_ORG: OwnerType

class Binding(_message.Message):
    __slots__ = ("credential_id", "owner_type", "owner_id", "provider")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_TYPE_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    owner_type: OwnerType
    owner_id: str
    provider: str
    def __init__(self, credential_id: _Optional[str] = ..., owner_type: _Optional[_Union[OwnerType, str]] = ..., owner_id: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class GetPublicKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPublicKeyResponse(_message.Message):
    __slots__ = ("kid", "public_key_pem")
    KID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    kid: int
    public_key_pem: str
    def __init__(self, kid: _Optional[int] = ..., public_key_pem: _Optional[str] = ...) -> None: ...

class DecryptRequest(_message.Message):
    __slots__ = ("envelope", "binding")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    binding: Binding
    def __init__(self, envelope: _Optional[bytes] = ..., binding: _Optional[_Union[Binding, _Mapping]] = ...) -> None: ...

class DecryptResponse(_message.Message):
    __slots__ = ("secret", "kid")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    secret: bytes
    kid: int
    def __init__(self, secret: _Optional[bytes] = ..., kid: _Optional[int] = ...) -> None: ...

class RewrapRequest(_message.Message):
    __slots__ = ("envelope", "binding")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    binding: Binding
    def __init__(self, envelope: _Optional[bytes] = ..., binding: _Optional[_Union[Binding, _Mapping]] = ...) -> None: ...

class RewrapResponse(_message.Message):
    __slots__ = ("envelope", "kid", "changed_kid")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    CHANGED_KID_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    kid: int
    changed_kid: bool
    def __init__(self, envelope: _Optional[bytes] = ..., kid: _Optional[int] = ..., changed_kid: _Optional[bool] = ...) -> None: ...
