"""Request ids on every answer and log line, Prometheus metrics by route template, and CORS."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from chat_api.core.problems import PROBLEM_BASE
from chat_api.main import create_app
from switchyard_common.logs import configure_logging
from tests.chat_api.conftest import chat_api_settings
from tests.support.chat_api import ServedApp
from tests.support.ports import free_port

GENERATED_ID = re.compile(r"[0-9a-f]{32}")
ALLOWED_ORIGIN = "https://app.example"


def samples(client: TestClient | None, text: str | None = None) -> list[tuple[str, dict[str, str], float]]:
    """Every sample /metrics exposes, as (name, labels, value)."""
    if text is None:
        assert client is not None
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


@pytest.fixture
def cors_client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = chat_api_settings(database_url, tmp_path, cors_origins=[ALLOWED_ORIGIN])
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_request_id_is_generated_and_echoed(client: TestClient) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    assert GENERATED_ID.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_a_safe_incoming_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "edge-7f3A.b_9"})
    assert response.headers["X-Request-ID"] == "edge-7f3A.b_9"
    longest = "a" * 128
    assert client.get("/healthz", headers={"X-Request-ID": longest}).headers["X-Request-ID"] == longest


@pytest.mark.parametrize("unsafe", ["a" * 129, "has space", "semi;colon", "<script>", "ü-umlaut", ""])
def test_an_unsafe_incoming_request_id_is_replaced(client: TestClient, unsafe: str) -> None:
    response = client.get("/healthz", headers={b"X-Request-ID": unsafe.encode()})
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


def test_errors_carry_the_request_id(client: TestClient) -> None:
    assert client.get("/no/such/path", headers={"X-Request-ID": "r-404"}).headers["X-Request-ID"] == "r-404"
    invalid = client.post("/v1/auth/login", json={}, headers={"X-Request-ID": "r-422"})
    assert (invalid.status_code, invalid.headers["X-Request-ID"]) == (422, "r-422")


def test_an_unhandled_exception_is_a_500_problem_with_the_request_id(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(chat_api_settings(database_url, tmp_path))

    async def broken() -> None:
        raise RuntimeError("bug")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken", headers={"X-Request-ID": "r-500"})
        assert response.status_code == 500
        assert response.headers["X-Request-ID"] == "r-500"
        assert response.json()["type"] == PROBLEM_BASE + "internal"
        assert (
            "chat_api_http_requests_total",
            {"method": "GET", "route": "/broken", "status": "500"},
            1.0,
        ) in (samples(client))


def test_log_lines_during_a_request_carry_its_id(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("chat-api", "INFO")
    try:
        settings = chat_api_settings(database_url, tmp_path, nats_url=f"nats://127.0.0.1:{free_port()}")
        with TestClient(create_app(settings)) as client:
            capsys.readouterr()
            # /readyz logs a warning for each missing dependency (no NATS, no router here).
            client.get("/readyz?q=query-canary", headers={"X-Request-ID": "trace-me-1"})
            lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        root.handlers[:], root.level = handlers, level
    # The test's own HTTP client logs the URL it requested; only the server's lines count here.
    lines = [line for line in lines if not line["logger"].startswith("httpx")]
    mine = [line for line in lines if line.get("request_id") == "trace-me-1"]
    assert any(line["logger"] == "chat_api.api.health" for line in mine), lines
    access = [line for line in mine if line["logger"] == "chat_api.access"]
    assert len(access) == 1, lines
    assert access[0]["message"].startswith("GET /readyz 503 ")
    assert (access[0]["method"], access[0]["route"], access[0]["status"]) == ("GET", "/readyz", 503)
    assert access[0]["duration_ms"] >= 0
    assert "query-canary" not in json.dumps(lines)


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    email = f"metrics-canary-{uuid.uuid4().hex[:8]}@example.com"
    assert (
        client.post("/v1/auth/register", json={"email": email, "password": "long enough pw"}).status_code
        == 201
    )
    assert (
        client.post("/v1/auth/login", json={"email": email, "password": "wrong password"}).status_code == 401
    )
    assert client.get(f"/v1/keys/{uuid.uuid4().hex}/path-canary").status_code == 404
    assert client.request("BREW", "/healthz").status_code == 405

    exposed = samples(client)
    counts = {
        (labels["method"], labels["route"], labels["status"]): value
        for name, labels, value in exposed
        if name == "chat_api_http_requests_total"
    }
    assert counts[("POST", "/v1/auth/register", "201")] == 1
    assert counts[("POST", "/v1/auth/login", "401")] == 1
    assert counts[("GET", "unmatched", "404")] == 1
    assert counts[("other", "/healthz", "405")] == 1
    durations = {
        (labels["method"], labels["route"])
        for name, labels, _ in exposed
        if name == "chat_api_http_request_duration_seconds_count"
    }
    assert ("POST", "/v1/auth/login") in durations
    # Nothing the client sent becomes a label value.
    values = {value for _, labels, _ in exposed for value in labels.values()}
    assert not [value for value in values if "canary" in value or "BREW" in value or "@" in value]


def test_each_app_has_its_own_metrics(database_url: str, tmp_path: Path) -> None:
    settings = chat_api_settings(database_url, tmp_path)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        first.get("/healthz")
        healthz = (
            "chat_api_http_requests_total",
            {"method": "GET", "route": "/healthz", "status": "200"},
            1.0,
        )
        assert healthz in samples(first)
        assert healthz not in samples(second)


async def test_a_streaming_response_is_an_open_stream_until_it_ends(
    database_url: str, tmp_path: Path
) -> None:
    served = ServedApp(chat_api_settings(database_url, tmp_path))
    release = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await release.wait()
        yield b"last\n"

    async def stream() -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    served.app.add_api_route("/stream", stream)
    await served.start()
    try:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:

            async def open_streams() -> float:
                text = (await http.get("/metrics")).text
                return next(v for name, _, v in samples(None, text) if name == "chat_api_open_streams")

            async with http.stream("GET", "/stream", headers={"X-Request-ID": "s-1"}) as response:
                assert response.headers["X-Request-ID"] == "s-1"
                body = response.aiter_bytes()
                assert await anext(body) == b"first\n"
                assert await open_streams() == 1
                release.set()
                assert b"".join([chunk async for chunk in body]) == b"last\n"
            assert await open_streams() == 0
    finally:
        await served.stop()


def test_cors_preflight_from_an_allowed_origin(cors_client: TestClient) -> None:
    response = cors_client.options(
        "/v1/auth/login",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, x-request-id",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "content-type", "idempotency-key", "x-request-id", "x-switchyard-org"):
        assert header in allowed
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


def test_cors_answers_expose_the_switchyard_headers(cors_client: TestClient) -> None:
    response = cors_client.get("/healthz", headers={"Origin": ALLOWED_ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    for header in ("x-request-id", "x-switchyard-provider", "x-switchyard-model", "retry-after"):
        assert header in exposed


def test_cors_ignores_a_disallowed_origin(cors_client: TestClient) -> None:
    preflight = cors_client.options(
        "/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    simple = cors_client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in simple.headers


def test_no_cors_headers_without_configured_origins(client: TestClient) -> None:
    preflight = client.options(
        "/v1/auth/login", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
