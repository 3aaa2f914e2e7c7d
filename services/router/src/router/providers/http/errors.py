"""A provider's HTTP error (status, error body, retry hints) as our typed ProviderError."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from router.providers.base import (
    BadRequest,
    CredentialRejected,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    scrub,
)
from router.providers.http.bodies import json_or_none

__all__ = ["error_from_payload", "raise_for_status", "retry_after"]

_MAX_DETAIL = 500
# Kinds of error (Anthropic `type`, Google `status`, OpenAI `type`/`code`) that mean the same as a status.
_CREDENTIAL_KINDS = ("authentication", "permission", "unauthenticated", "invalid_api_key", "api_key_invalid")
_RATE_KINDS = ("rate_limit", "resource_exhausted")
_REQUEST_KINDS = ("invalid_request", "invalid_argument", "not_found", "failed_precondition")


def raise_for_status(provider: str, response: httpx.Response, api_key: str) -> None:
    """Map a non-2xx response (body already read) to a typed error with the provider's own message."""
    if response.is_success:
        return
    status = response.status_code
    body = json_or_none(response.content)
    _, detail = _error_fields(body)  # the status decides the type, whatever the body calls it
    message = scrub(f"{provider}: HTTP {status}: {detail or response.reason_phrase or 'error'}", api_key)
    if status in (401, 403) or _key_invalid(body):
        raise CredentialRejected(provider, message, status=status)
    if status == 429:
        raise RateLimited(provider, message, retry_after=retry_after(response.headers, body))
    if status >= 500 or status < 400:  # 3xx: redirects are not followed, so the endpoint is wrong
        raise ProviderUnavailable(provider, message, status=status)
    raise BadRequest(provider, message, status=status)


def error_from_payload(provider: str, error: object, api_key: str) -> ProviderError:
    """The typed error for an error object sent inside a 200 stream (its `type`/`status` decides)."""
    kind, detail = _error_fields({"error": error})
    message = scrub(f"{provider}: stream error: {detail or kind or 'unknown'}", api_key)
    lowered = kind.lower()
    if any(word in lowered for word in _CREDENTIAL_KINDS):
        return CredentialRejected(provider, message)
    if any(word in lowered for word in _RATE_KINDS):
        return RateLimited(provider, message)
    if any(word in lowered for word in _REQUEST_KINDS):
        return BadRequest(provider, message)
    return ProviderUnavailable(provider, message)  # overloaded, api_error, server_error, unknown


def retry_after(headers: Mapping[str, str], body: object = None) -> float | None:
    """Seconds to wait: retry-after-ms, retry-after (seconds or HTTP date), then provider hints."""
    if (value := _number(headers.get("retry-after-ms"))) is not None:
        return max(value / 1000, 0.0)
    raw = headers.get("retry-after")
    if (value := _number(raw)) is not None:
        return max(value, 0.0)
    if raw and (when := _http_date(raw)) is not None:
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    hints = [_google_retry_delay(body)]
    # OpenAI/Groq-style resets are durations ("6m0s"); we can't tell which limit tripped, so wait for all.
    hints += [_duration(headers.get(f"x-ratelimit-reset-{kind}")) for kind in ("requests", "tokens")]
    waits = [hint for hint in hints if hint is not None]
    return max(waits) if waits else None


def _error_fields(body: object) -> tuple[str, str]:
    """(kind, message) from any provider's error body; both "" when there is none."""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    if isinstance(error, dict):  # OpenAI, Anthropic, Google, Groq, DeepSeek, Together, OpenRouter
        kind = " ".join(str(error[field]) for field in ("type", "status", "code") if error.get(field))
        message = error.get("message")
    elif isinstance(error, str):  # xAI: {"code": ..., "error": "..."}
        kind, message = body.get("code") or "", error
    else:  # Mistral: {"object": "error", "message": ..., "type": ...}; FastAPI-style {"detail": ...}
        kind, message = body.get("type") or "", body.get("message") or body.get("detail")
    if isinstance(message, dict) and "detail" in message:  # Mistral's 422 nests the FastAPI body
        message = message["detail"]
    if isinstance(message, list):  # FastAPI-style validation errors
        message = "; ".join(_validation_item(item) for item in message)
    elif message is not None and not isinstance(message, str):
        message = json.dumps(message)
    return str(kind), (message or "")[:_MAX_DETAIL]


def _validation_item(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc") or [] if part != "body")
    return f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", item))


def _details(body: object) -> list[Any]:
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return details if isinstance(details, list) else []


# xAI answers a bad or missing key with 400: {"code": ..., "error": "Incorrect API key provided: …"}.
_XAI_KEY_ERROR = re.compile(r"(?:incorrect|no) api key provided\b", re.IGNORECASE)


def _key_invalid(body: object) -> bool:
    """A refused key sent with another status than 401/403: Google's 400 INVALID_ARGUMENT with an
    ErrorInfo reason API_KEY_INVALID, and xAI's 400 "Incorrect API key provided"."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return _XAI_KEY_ERROR.match(body["error"]) is not None
    return any(isinstance(item, dict) and item.get("reason") == "API_KEY_INVALID" for item in _details(body))


def _google_retry_delay(body: object) -> float | None:
    for item in _details(body):
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return _duration(str(item.get("retryDelay", "")))
    return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"(?:{_NUM}h)?(?:{_NUM}m(?!s))?(?:{_NUM}s)?(?:{_NUM}ms)?")


def _duration(text: str | None) -> float | None:
    """Go/protobuf-style durations: "1s", "6m0s", "2m59.56s", "120ms", "37.5s"."""
    match = _DURATION.fullmatch(text.strip()) if text else None
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000
