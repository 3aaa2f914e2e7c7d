"""The router's error events as chat-api problems, one stable type each."""

from __future__ import annotations

from chat_api.core.problems import (
    BadRequest,
    CredentialUnusable,
    KeyRejected,
    KeyServiceUnavailable,
    NoAccess,
    Problem,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderUnavailable,
    QuotaExceeded,
    UnknownModel,
)
from switchyard.router.v1 import router_pb2

__all__ = ["problem_for"]

_PROBLEMS: dict[int, type[Problem]] = {
    router_pb2.ERROR_TYPE_CREDENTIAL_REJECTED: KeyRejected,
    router_pb2.ERROR_TYPE_RATE_LIMITED: ProviderRateLimited,
    router_pb2.ERROR_TYPE_PROVIDER_UNAVAILABLE: ProviderUnavailable,
    router_pb2.ERROR_TYPE_BAD_REQUEST: ProviderBadRequest,
    router_pb2.ERROR_TYPE_NO_ACCESS: NoAccess,
    router_pb2.ERROR_TYPE_KEY_SERVICE_UNAVAILABLE: KeyServiceUnavailable,
    router_pb2.ERROR_TYPE_UNKNOWN_MODEL: UnknownModel,
    router_pb2.ERROR_TYPE_INVALID_REQUEST: BadRequest,
    router_pb2.ERROR_TYPE_CREDENTIAL_UNUSABLE: CredentialUnusable,
}


def problem_for(error: router_pb2.Error, *, quota_exceeded: bool) -> Problem:
    """The problem for a router error; "no access" is the quota's doing when platform access was barred."""
    # The router builds its messages without keys (and redacts provider text), so they pass through.
    message = error.message or "the chat request failed"
    if error.type == router_pb2.ERROR_TYPE_NO_ACCESS and quota_exceeded:
        return QuotaExceeded(
            "your monthly platform quota is used up; add your own key for this provider to keep chatting"
        )
    if error.type == router_pb2.ERROR_TYPE_RATE_LIMITED:
        return ProviderRateLimited(message, retry_after=error.retry_after_seconds or 1.0)
    problem = _PROBLEMS.get(error.type, ProviderUnavailable)
    return problem(message)
