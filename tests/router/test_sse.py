"""EventParser yields what httpx_sse's EventSource yields, however the body is cut into chunks."""

from __future__ import annotations

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent

from router.providers.sse import EventParser

BODIES = {
    "lf": b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n',
    "crlf": b"event: ping\r\ndata: {}\r\n\r\nevent: delta\r\ndata: h\xc3\xa9llo \xe2\x9c\x93\r\n\r\n",
    "cr": b"data: one\r\rdata: two\r\r",
    "multi-line data, comments, ids, retry": (
        b": keep-alive\n\nid: 7\nretry: 1500\ndata: first\ndata: second\n\n"
        b"data:no-space\nignored: field\nid: bad\x00id\nretry: soon\n\n"
    ),
    "keep-alive only": b":\n\n\n\n",
    "unfinished last event": b"data: done\n\ndata: never dispatched",
}


def fields(events: list[ServerSentEvent]) -> list[tuple[str, str, str, int | None]]:
    return [(e.event, e.data, e.id, e.retry) for e in events]


def reference(body: bytes) -> list[ServerSentEvent]:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    return list(EventSource(response).iter_sse())


def parse(chunks: list[bytes]) -> list[ServerSentEvent]:
    parser = EventParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_same_events_as_httpx_sse_at_every_split(body: bytes) -> None:
    expected = fields(reference(body))
    assert fields(parse([body])) == expected
    for cut in range(1, len(body)):
        assert fields(parse([body[:cut], body[cut:]])) == expected, cut
    assert fields(parse([body[i : i + 1] for i in range(len(body))])) == expected


def test_an_event_is_returned_with_the_chunk_that_completes_it() -> None:
    parser = EventParser()
    assert parser.feed(b"data: a\n") == []
    assert [e.data for e in parser.feed(b"\ndata: b\r")] == ["a"]
    # A CR ends the line at once: the blank line that follows completes the event, no later chunk needed.
    assert [e.data for e in parser.feed(b"\r")] == ["b"]
    assert parser.feed(b"\n") == [], "the LF of a split CRLF is not a second blank line"
