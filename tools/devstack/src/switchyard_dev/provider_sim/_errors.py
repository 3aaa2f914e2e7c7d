"""Error responses in each provider's own shape.

OpenAI, Groq, DeepSeek and Together answer ``{"error": {"message", "type", "param", "code"}}``;
Mistral ``{"object": "error", ...}`` (and ``{"detail": "Unauthorized"}`` for a bad key); xAI
``{"code": <status text>, "error": <message>}`` (and HTTP 400 for a bad key); OpenRouter
``{"error": {"code": <http status>, "message"}}``; Anthropic
``{"type": "error", "error": {"type", "message"}, "request_id"}``; Google
``{"error": {"code", "message", "status", "details"?}}``.

Where a provider signals how long to back off, the signal goes where that provider puts it: a
``retry-after`` header everywhere except Google, whose ``429 RESOURCE_EXHAUSTED`` carries a
``google.rpc.RetryInfo`` detail with ``retryDelay`` in the body instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

Reason = Literal["missing_key", "invalid_key", "other"]

OPENAI_STYLE = frozenset({"openai", "groq", "deepseek", "together"})


@dataclass(frozen=True, slots=True)
class ProviderError:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _mask(key: str, *, head: int, tail: int, stars: int | None = None) -> str:
    if len(key) <= head + tail:
        return "*" * len(key)
    return (
        key[:head] + "*" * (stars if stars is not None else len(key) - head - tail) + key[len(key) - tail :]
    )


def _with_key(message: str, key: str | None, echo_key: bool) -> str:
    if echo_key and key is not None and key not in message:
        return f"{message} (API key: {key})"
    return message


# --- OpenAI-compatible -----------------------------------------------------------------------------

_OPENAI_TYPES: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Invalid authentication credentials."),
    403: (
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in 2s.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}

_MISSING_KEY = {
    "openai": (
        "You didn't provide an API key. You need to provide your API key in an Authorization header using "
        "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) "
        "if you're accessing the API from your browser and are prompted for a username and password. You "
        "can obtain an API key from https://platform.openai.com/account/api-keys."
    ),
    "groq": "Invalid API Key",
    "deepseek": "Authentication Fails (no such user)",
    "together": "Unauthorized: missing API key. You can find your API key at https://api.together.xyz/settings/api-keys.",
}


def _invalid_key_message(provider: str, shown: str) -> str:
    if provider == "openai":
        return (
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
    if provider == "groq":
        return "Invalid API Key"
    if provider == "deepseek":
        return f"Authentication Fails, Your api key: {shown} is invalid"
    return f"Invalid API key provided: {shown}. You can find your API key at https://api.together.xyz/settings/api-keys."


def _openai_style(
    provider: str,
    status: int,
    message: str | None,
    reason: Reason,
    key: str | None,
    echo_key: bool,
    param: str | None,
    code: str | None,
) -> dict[str, Any]:
    type_, default_code, default_message = _OPENAI_TYPES.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, _phrase(status)),
    )
    if reason == "missing_key":
        type_, default_code = "invalid_request_error", None
        default_message = _MISSING_KEY[provider]
    elif reason == "invalid_key" or status == 401:
        shown = (key or "") if echo_key else _mask(key or "", head=3, tail=4)
        default_message = _invalid_key_message(provider, shown)
        default_code = "invalid_api_key"
        type_ = "authentication_error" if provider == "deepseek" else "invalid_request_error"
    return {
        "error": {
            "message": _with_key(message or default_message, key, echo_key),
            "type": type_,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


_MISTRAL_TYPES = {400: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limited"}


def _mistral(
    status: int, message: str | None, reason: Reason, key: str | None, echo_key: bool, param: str | None
) -> dict[str, Any]:
    if reason != "other" or status == 401:
        if message is None and not echo_key:
            return {"detail": "Unauthorized"}
        return {"detail": _with_key(message or "Unauthorized", key, echo_key)}
    default = {429: "Requests rate limit exceeded", 503: "Service unavailable."}.get(status, _phrase(status))
    return {
        "object": "error",
        "message": _with_key(message or default, key, echo_key),
        "type": _MISTRAL_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
        "param": param,
        "code": None,
    }


# gRPC status descriptions, which xAI's API puts in "code".
_XAI_CODES = {
    400: "Client specified an invalid argument",
    401: "The request does not have valid authentication credentials for the operation",
    403: "The caller does not have permission to execute the specified operation",
    404: "Some requested entity was not found",
    429: "Some resource has been exhausted",
    500: "Internal error",
    503: "The service is currently unavailable",
}


def _xai(status: int, message: str | None, reason: Reason, key: str | None, echo_key: bool) -> dict[str, Any]:
    if reason == "missing_key":
        default = "No API key provided. You can obtain an API key from https://console.x.ai."
    elif reason == "invalid_key" or status == 401:
        shown = (key or "") if echo_key else _mask(key or "", head=2, tail=2, stars=3)
        default = f"Incorrect API key provided: {shown}. You can obtain an API key from https://console.x.ai."
    else:
        default = {429: "Too many requests. Please slow down.", 503: "Service temporarily unavailable."}.get(
            status, _phrase(status)
        )
    return {
        "code": _XAI_CODES.get(status, _phrase(status)),
        "error": _with_key(message or default, key, echo_key),
    }


def _openrouter(
    status: int, message: str | None, reason: Reason, key: str | None, echo_key: bool
) -> dict[str, Any]:
    if reason == "missing_key":
        default = "No auth credentials found"
    elif reason == "invalid_key" or status == 401:
        default = "User not found."
    else:
        default = {
            402: "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
            429: "Rate limit exceeded: too many requests.",
            502: "Provider returned error",
            503: "No available model provider that meets your routing requirements",
        }.get(status, _phrase(status))
    return {"error": {"message": _with_key(message or default, key, echo_key), "code": status}}


# --- Anthropic -------------------------------------------------------------------------------------

_ANTHROPIC_TYPES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. "
        "Please try again later.",
    ),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def _anthropic(
    status: int, message: str | None, reason: Reason, key: str | None, echo_key: bool, request_id: str
) -> dict[str, Any]:
    type_, default = _ANTHROPIC_TYPES.get(status, ("api_error", _phrase(status)))
    if reason == "missing_key":
        type_, default = "authentication_error", "x-api-key header is required"
    elif reason == "invalid_key":
        type_, default = "authentication_error", "invalid x-api-key"
    return {
        "type": "error",
        "error": {"type": type_, "message": _with_key(message or default, key, echo_key)},
        "request_id": request_id,
    }


# --- Google ----------------------------------------------------------------------------------------

_GOOGLE_STATUS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    499: ("CANCELLED", "The operation was cancelled."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}

_GOOGLE_INVALID_KEY = "API key not valid. Please pass a valid API key."
_GOOGLE_MISSING_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
    "or other form of API consumer identity to call this API."
)


def _google(
    status: int,
    message: str | None,
    reason: Reason,
    key: str | None,
    echo_key: bool,
    retry_after: str | None,
) -> dict[str, Any]:
    grpc_status, default = _GOOGLE_STATUS.get(status, ("UNKNOWN", _phrase(status)))
    details: list[dict[str, Any]] = []
    if reason == "missing_key":
        default = _GOOGLE_MISSING_KEY
    elif reason == "invalid_key":
        default = _GOOGLE_INVALID_KEY
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": default,
            },
        ]
    elif status == 403 and echo_key and key is not None:
        default = f"Permission denied: Consumer 'api_key:{key}' has been suspended."
    if retry_after is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"})
    error: dict[str, Any] = {
        "code": status,
        "message": _with_key(message or default, key, echo_key),
        "status": grpc_status,
    }
    if details:
        error["details"] = details
    return {"error": error}


def render_error(
    provider: str,
    status: int,
    message: str | None = None,
    *,
    reason: Reason = "other",
    api_key: str | None = None,
    echo_key: bool = False,
    retry_after: str | None = None,
    param: str | None = None,
    code: str | None = None,
    request_id: str = "req_sim",
) -> ProviderError:
    """`provider`'s error response for HTTP `status`.

    `message` replaces the provider's default text; `reason` picks the provider's wording (and, for
    xAI and Google, its status) for a missing or a rejected key; `echo_key` puts the caller's key,
    unmasked, into the message.
    """
    headers: dict[str, str] = {}
    if provider in OPENAI_STYLE:
        body = _openai_style(provider, status, message, reason, api_key, echo_key, param, code)
    elif provider == "mistral":
        body = _mistral(status, message, reason, api_key, echo_key, param)
    elif provider == "xai":
        body = _xai(status, message, reason, api_key, echo_key)
    elif provider == "openrouter":
        body = _openrouter(status, message, reason, api_key, echo_key)
    elif provider == "anthropic":
        body = _anthropic(status, message, reason, api_key, echo_key, request_id)
        headers["request-id"] = request_id
    elif provider == "google":
        body = _google(status, message, reason, api_key, echo_key, retry_after)
    else:
        body = {"error": {"message": message or f"unknown provider {provider!r}", "code": status}}
    if retry_after is not None and provider != "google":
        headers["retry-after"] = retry_after
    return ProviderError(status, body, headers)


def auth_failure_status(provider: str, reason: Reason) -> int:
    """The HTTP status a provider answers for a missing or rejected key."""
    if provider == "xai":
        return 400
    if provider == "google":
        return 403 if reason == "missing_key" else 400
    return 401


HTML_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head><title>{title}</title></head>
<body>
<center><h1>{title}</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
"""


def html_page(status: int) -> bytes:
    title = "Just a moment..." if status == 200 else f"{status} {_phrase(status)}"
    return HTML_PAGE.format(title=title).encode()
