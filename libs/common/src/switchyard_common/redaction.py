"""A logging filter that masks anything shaped like a credential, on every record.

Defence in depth: code never logs a key on purpose, but a URL, a header dump or a third-party
library's debug line might carry one. Patterns cover the providers' key formats, bearer tokens,
auth headers and key-like query parameters.
"""

from __future__ import annotations

import logging
import re

__all__ = ["MASK", "RedactingFilter", "redact"]

MASK = "[redacted]"

# Group 1 of every pattern is the part to keep (a header name, "key="); the rest is masked.
_PATTERNS = [
    # Provider key shapes: OpenAI/DeepSeek/OpenRouter (sk-…), Anthropic (sk-ant-…), Groq (gsk_…),
    # xAI (xai-…), Google (AIza…), Together/Mistral-style long hex/alnum tokens after a bearer.
    re.compile(r"()\b(?:sk|gsk|xai|pk|rk)[-_][A-Za-z0-9_\-]{8,}"),
    re.compile(r"()\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(
        r"(?i)((?:x-api-key|x-goog-api-key|authorization|api[-_]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]{6,}"
    ),
    re.compile(r"(?i)([?&](?:key|api_key|apikey|token|access_token)=)[^&\s\"']+"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites the record's final message (and exception text) with credentials masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
