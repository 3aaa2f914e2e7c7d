"""The redacting log filter masks credential-shaped text in every record, third-party ones too."""

from __future__ import annotations

import io
import logging

import pytest

from switchyard_common.logs import configure_logging
from switchyard_common.redaction import MASK, redact

CASES = [
    ("openai key sk-proj-AbCdEf0123456789xyz in text", "sk-proj-AbCdEf0123456789xyz"),
    ("anthropic sk-ant-api03-AAAABBBBCCCCDDDD", "sk-ant-api03-AAAABBBBCCCCDDDD"),
    ("groq gsk_abcdefghijklmnopqrstuv", "gsk_abcdefghijklmnopqrstuv"),
    ("xai xai-0123456789abcdefABCDEF", "xai-0123456789abcdefABCDEF"),
    ("google AIzaSyA1234567890abcdefghijklmnop", "AIzaSyA1234567890abcdefghijklmnop"),
    ("headers {'Authorization': 'Bearer tok_live_1234567890'}", "tok_live_1234567890"),
    ("x-api-key: 3f9a8b7c6d5e4f3a2b1c", "3f9a8b7c6d5e4f3a2b1c"),
    ('{"x-goog-api-key": "opaque-google-key-123"}', "opaque-google-key-123"),
    ("GET https://example.test/v1beta/models?key=secretvalue123&alt=sse", "secretvalue123"),
    ("together api_key=0123456789abcdef0123", "0123456789abcdef0123"),
]


@pytest.mark.parametrize(("text", "secret"), CASES)
def test_credential_shapes_are_masked(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert MASK in cleaned


@pytest.mark.parametrize("text", ["plain words", "request 42 took 12 ms", "model openai/gpt-4o-mini"])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert redact(text) == text


def test_every_logger_goes_through_the_filter(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", "DEBUG")
    try:
        logging.getLogger("some.library").warning(
            "sending %s", {"authorization": "Bearer sk-live-canary123456"}
        )
        try:
            raise RuntimeError("boom with sk-canary-0123456789abcdef")
        except RuntimeError:
            logging.getLogger("other").exception("failed")
        err = capsys.readouterr().err
    finally:
        logging.getLogger().handlers.clear()
    assert "canary" not in err
    assert err.count(MASK) >= 2
    assert "RuntimeError" in err  # the traceback is kept, only the secret is masked


def test_filter_does_not_break_lazy_formatting() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from switchyard_common.redaction import RedactingFilter

    handler.addFilter(RedactingFilter())
    log = logging.getLogger("lazy")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("%s of %d", "one", 2)
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "one of 2\n"
