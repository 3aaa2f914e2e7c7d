import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from switchyard.keyvault.v1 import keyvault_pb2 as _keyvault_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_SYSTEM: _ClassVar[Role]
    ROLE_USER: _ClassVar[Role]
    ROLE_ASSISTANT: _ClassVar[Role]

class KeySource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_SOURCE_UNSPECIFIED: _ClassVar[KeySource]
    KEY_SOURCE_USER: _ClassVar[KeySource]
    KEY_SOURCE_ORG: _ClassVar[KeySource]
    KEY_SOURCE_PLATFORM: _ClassVar[KeySource]

class FinishReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINISH_REASON_UNSPECIFIED: _ClassVar[FinishReason]
    FINISH_REASON_STOP: _ClassVar[FinishReason]
    FINISH_REASON_LENGTH: _ClassVar[FinishReason]
    FINISH_REASON_CONTENT_FILTER: _ClassVar[FinishReason]
    FINISH_REASON_OTHER: _ClassVar[FinishReason]

class ErrorType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_TYPE_UNSPECIFIED: _ClassVar[ErrorType]
    ERROR_TYPE_CREDENTIAL_REJECTED: _ClassVar[ErrorType]
    ERROR_TYPE_RATE_LIMITED: _ClassVar[ErrorType]
    ERROR_TYPE_PROVIDER_UNAVAILABLE: _ClassVar[ErrorType]
    ERROR_TYPE_BAD_REQUEST: _ClassVar[ErrorType]
    ERROR_TYPE_NO_ACCESS: _ClassVar[ErrorType]
    ERROR_TYPE_KEY_SERVICE_UNAVAILABLE: _ClassVar[ErrorType]
    ERROR_TYPE_UNKNOWN_MODEL: _ClassVar[ErrorType]
    ERROR_TYPE_INVALID_REQUEST: _ClassVar[ErrorType]
    ERROR_TYPE_CREDENTIAL_UNUSABLE: _ClassVar[ErrorType]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_VALID: _ClassVar[Verdict]
    VERDICT_REJECTED: _ClassVar[Verdict]
    VERDICT_PROVIDER_UNREACHABLE: _ClassVar[Verdict]
ROLE_UNSPECIFIED: Role
ROLE_SYSTEM: Role
ROLE_USER: Role
ROLE_ASSISTANT: Role
KEY_SOURCE_UNSPECIFIED: KeySource
KEY_SOURCE_USER: KeySource
KEY_SOURCE_ORG: KeySource
KEY_SOURCE_PLATFORM: KeySource
FINISH_REASON_UNSPECIFIED: FinishReason
FINISH_REASON_STOP: FinishReason
FINISH_REASON_LENGTH: FinishReason
FINISH_REASON_CONTENT_FILTER: FinishReason
FINISH_REASON_OTHER: FinishReason
ERROR_TYPE_UNSPECIFIED: ErrorType
ERROR_TYPE_CREDENTIAL_REJECTED: ErrorType
ERROR_TYPE_RATE_LIMITED: ErrorType
ERROR_TYPE_PROVIDER_UNAVAILABLE: ErrorType
ERROR_TYPE_BAD_REQUEST: ErrorType
ERROR_TYPE_NO_ACCESS: ErrorType
ERROR_TYPE_KEY_SERVICE_UNAVAILABLE: ErrorType
ERROR_TYPE_UNKNOWN_MODEL: ErrorType
ERROR_TYPE_INVALID_REQUEST: ErrorType
ERROR_TYPE_CREDENTIAL_UNUSABLE: ErrorType
VERDICT_UNSPECIFIED: Verdict
VERDICT_VALID: Verdict
VERDICT_REJECTED: Verdict
VERDICT_PROVIDER_UNREACHABLE: Verdict

class ImagePart(_message.Message):
    __slots__ = ("data", "media_type", "url")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    media_type: str
    url: str
    def __init__(self, data: _Optional[bytes] = ..., media_type: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class ContentPart(_message.Message):
    __slots__ = ("text", "image")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    text: str
    image: ImagePart
    def __init__(self, text: _Optional[str] = ..., image: _Optional[_Union[ImagePart, _Mapping]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("role", "parts")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    role: Role
    parts: _containers.RepeatedCompositeFieldContainer[ContentPart]
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., parts: _Optional[_Iterable[_Union[ContentPart, _Mapping]]] = ...) -> None: ...

class Parameters(_message.Message):
    __slots__ = ("temperature", "top_p", "max_output_tokens", "stop", "seed")
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    temperature: float
    top_p: float
    max_output_tokens: int
    stop: _containers.RepeatedScalarFieldContainer[str]
    seed: int
    def __init__(self, temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., max_output_tokens: _Optional[int] = ..., stop: _Optional[_Iterable[str]] = ..., seed: _Optional[int] = ...) -> None: ...

class Credential(_message.Message):
    __slots__ = ("binding", "envelope", "expires_at", "fallback_to_platform")
    BINDING_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_TO_PLATFORM_FIELD_NUMBER: _ClassVar[int]
    binding: _keyvault_pb2.Binding
    envelope: bytes
    expires_at: _timestamp_pb2.Timestamp
    fallback_to_platform: bool
    def __init__(self, binding: _Optional[_Union[_keyvault_pb2.Binding, _Mapping]] = ..., envelope: _Optional[bytes] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fallback_to_platform: _Optional[bool] = ...) -> None: ...

class ProviderPolicy(_message.Message):
    __slots__ = ("provider", "require_org_key", "forbid_platform")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ORG_KEY_FIELD_NUMBER: _ClassVar[int]
    FORBID_PLATFORM_FIELD_NUMBER: _ClassVar[int]
    provider: str
    require_org_key: bool
    forbid_platform: bool
    def __init__(self, provider: _Optional[str] = ..., require_org_key: _Optional[bool] = ..., forbid_platform: _Optional[bool] = ...) -> None: ...

class ChatRequest(_message.Message):
    __slots__ = ("request_id", "user_id", "org_id", "model", "messages", "parameters", "credentials", "policies")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    user_id: str
    org_id: str
    model: str
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    parameters: Parameters
    credentials: _containers.RepeatedCompositeFieldContainer[Credential]
    policies: _containers.RepeatedCompositeFieldContainer[ProviderPolicy]
    def __init__(self, request_id: _Optional[str] = ..., user_id: _Optional[str] = ..., org_id: _Optional[str] = ..., model: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., parameters: _Optional[_Union[Parameters, _Mapping]] = ..., credentials: _Optional[_Iterable[_Union[Credential, _Mapping]]] = ..., policies: _Optional[_Iterable[_Union[ProviderPolicy, _Mapping]]] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("provider", "model", "key_source", "credential_id", "fell_back", "auto_reason", "demo")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    KEY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    FELL_BACK_FIELD_NUMBER: _ClassVar[int]
    AUTO_REASON_FIELD_NUMBER: _ClassVar[int]
    DEMO_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    key_source: KeySource
    credential_id: str
    fell_back: bool
    auto_reason: str
    demo: bool
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., key_source: _Optional[_Union[KeySource, str]] = ..., credential_id: _Optional[str] = ..., fell_back: _Optional[bool] = ..., auto_reason: _Optional[str] = ..., demo: _Optional[bool] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class Finish(_message.Message):
    __slots__ = ("usage", "reason")
    USAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    usage: Usage
    reason: FinishReason
    def __init__(self, usage: _Optional[_Union[Usage, _Mapping]] = ..., reason: _Optional[_Union[FinishReason, str]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("type", "message", "provider", "retry_after_seconds")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    type: ErrorType
    message: str
    provider: str
    retry_after_seconds: float
    def __init__(self, type: _Optional[_Union[ErrorType, str]] = ..., message: _Optional[str] = ..., provider: _Optional[str] = ..., retry_after_seconds: _Optional[float] = ...) -> None: ...

class ChatEvent(_message.Message):
    __slots__ = ("route", "text_delta", "finish", "error")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    TEXT_DELTA_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    route: Route
    text_delta: str
    finish: Finish
    error: Error
    def __init__(self, route: _Optional[_Union[Route, _Mapping]] = ..., text_delta: _Optional[str] = ..., finish: _Optional[_Union[Finish, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("route", "text", "finish", "error")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    route: Route
    text: str
    finish: Finish
    error: Error
    def __init__(self, route: _Optional[_Union[Route, _Mapping]] = ..., text: _Optional[str] = ..., finish: _Optional[_Union[Finish, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Model(_message.Message):
    __slots__ = ("id", "provider", "provider_model", "display_name", "context_window", "max_output_tokens", "input_price_per_mtok", "output_price_per_mtok", "capabilities", "platform_access", "demo")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_MODEL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_ACCESS_FIELD_NUMBER: _ClassVar[int]
    DEMO_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    provider_model: str
    display_name: str
    context_window: int
    max_output_tokens: int
    input_price_per_mtok: float
    output_price_per_mtok: float
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    platform_access: bool
    demo: bool
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., provider_model: _Optional[str] = ..., display_name: _Optional[str] = ..., context_window: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., input_price_per_mtok: _Optional[float] = ..., output_price_per_mtok: _Optional[float] = ..., capabilities: _Optional[_Iterable[str]] = ..., platform_access: _Optional[bool] = ..., demo: _Optional[bool] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ...) -> None: ...

class VerifyCredentialRequest(_message.Message):
    __slots__ = ("envelope", "binding", "provider")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    binding: _keyvault_pb2.Binding
    provider: str
    def __init__(self, envelope: _Optional[bytes] = ..., binding: _Optional[_Union[_keyvault_pb2.Binding, _Mapping]] = ..., provider: _Optional[str] = ...) -> None: ...

class VerifyCredentialResponse(_message.Message):
    __slots__ = ("verdict", "message")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    message: str
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., message: _Optional[str] = ...) -> None: ...
