"""Server-sent events parsed from raw body chunks, as the WHATWG event-stream rules say.

Same events as httpx_sse's EventSource, at less CPU per chunk: lines are split on bytes and each
is decoded once (a newline byte never occurs inside a UTF-8 sequence, so no decoder state is
needed), and one network chunk's events come back together as a list.
"""

from __future__ import annotations

from httpx_sse import ServerSentEvent

__all__ = ["EventParser"]


class EventParser:
    """Feed body chunks; get back the events each one completed. An unfinished event at the end
    of the stream is never dispatched (the spec discards it)."""

    __slots__ = ("_after_cr", "_buffer", "_data", "_event", "_last_id", "_retry")

    def __init__(self) -> None:
        self._buffer = b""
        self._after_cr = False
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across chunks; the CR already ended the line
        if not chunk:
            return []
        # A CR ends a line at once (never hold back an event); a LF right after it is skipped.
        self._after_cr = chunk.endswith(b"\r")
        data = self._buffer + chunk if self._buffer else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        self._buffer = lines.pop()  # the unterminated rest (b"" after a newline)
        events = []
        for line in lines:
            event = self._line(line.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            self._retry = int(value) if value.isascii() and value.isdigit() else self._retry
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._event and not self._data and not self._last_id and self._retry is None:
            return None
        event = ServerSentEvent(
            event=self._event, data="\n".join(self._data), id=self._last_id, retry=self._retry
        )
        self._event, self._data, self._retry = "", [], None  # the last event id carries over
        return event
