"""Hostile replies: sending an answer late, stalled, truncated, paced or held, as its fault says."""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Scope, Send

from switchyard_dev.provider_sim._faults import Fault
from switchyard_dev.provider_sim._replies import Answer
from switchyard_dev.provider_sim._requests import RecordedCall
from switchyard_dev.provider_sim._traffic import Traffic


class Delivery:
    """An ASGI response that sends an `Answer`, misbehaving the way its `Fault` scripts."""

    __slots__ = ("answer", "call", "complete", "fault", "headers", "traffic")

    def __init__(self, answer: Answer, fault: Fault | None, *, call: RecordedCall, traffic: Traffic) -> None:
        self.answer = answer
        self.fault = fault
        self.call = call
        self.traffic = traffic
        self.complete = False
        self.headers: list[tuple[bytes, bytes]] = [(b"content-type", answer.content_type)]
        if answer.frames is not None:
            self.headers.append((b"cache-control", b"no-cache"))
        for name, value in answer.headers.items():
            self.headers.append((name.encode(), value.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self.traffic.sending():
            if self.fault is None or not self.fault.misdelivers:
                await self._send_all(send)
            else:
                await self._misdeliver(self.fault, receive, send)

    async def _misdeliver(self, fault: Fault, receive: Receive, send: Send) -> None:
        with self.traffic.stop_signal() as stop:
            watcher = asyncio.create_task(self._watch_disconnect(receive, stop)) if fault.waits else None
            try:
                if fault.delay_first_byte > 0 and await _wait(stop, fault.delay_first_byte):
                    if self.traffic.closing:
                        await self._send_all(send)
                    return
                if self.answer.frames is None:
                    await self._send_body_faulty(send, fault, stop)
                else:
                    await self._send_frames_faulty(send, self.answer.frames, fault, stop)
            finally:
                if watcher is not None:
                    watcher.cancel()

    async def _watch_disconnect(self, receive: Receive, stop: asyncio.Event) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self.complete:
                    self.call.disconnected = True
                stop.set()
                return

    async def _start(self, send: Send, content_length: int | None) -> None:
        headers = self.headers
        if content_length is not None:
            headers = [*headers, (b"content-length", str(content_length).encode())]
        await send({"type": "http.response.start", "status": self.answer.status, "headers": headers})

    async def _finish(self, send: Send, body: bytes = b"") -> None:
        await send({"type": "http.response.body", "body": body, "more_body": False})
        self.complete = True

    async def _send_all(self, send: Send) -> None:
        body, frames = self.answer.body, self.answer.frames
        if frames is None:
            await self._start(send, len(body))
            await self._finish(send, body)
            return
        await self._start(send, None)
        for frame in frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await self._finish(send)

    async def _send_body_faulty(self, send: Send, fault: Fault, stop: asyncio.Event) -> None:
        body = self.answer.body
        if fault.stall_after_events is not None:
            # Headers, then nothing until the client gives up (or the simulator stops).
            await self._start(send, None)
            await _wait(stop, None)
            if self.traffic.closing:
                await self._finish(send, body)
            return
        await self._start(send, len(body))
        if fault.truncate_after_events is not None:
            # Half the promised body, then the connection closes.
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            return
        await self._finish(send, body)

    async def _send_frames_faulty(
        self, send: Send, frames: list[bytes], fault: Fault, stop: asyncio.Event
    ) -> None:
        limit = len(frames)
        if fault.truncate_after_events is not None:
            limit = min(limit, fault.truncate_after_events)
        if fault.stall_after_events is not None:
            limit = min(limit, fault.stall_after_events)
        await self._start(send, None)
        for i in range(limit):
            if await self._interrupted(i, fault, stop):
                if not self.traffic.closing:
                    return
                break
            await send({"type": "http.response.body", "body": frames[i], "more_body": True})
        else:
            if fault.stall_after_events is not None:
                await _wait(stop, None)
                if not self.traffic.closing:
                    return
        await self._finish(send)

    async def _interrupted(self, index: int, fault: Fault, stop: asyncio.Event) -> bool:
        """Hold or pace before stream event `index`; True when `stop` cut in (a disconnect, or shutdown)."""
        if index == fault.hold_after_events and await self.traffic.hold(stop):
            return True
        if index and fault.paced_stream_interval > 0:
            # A plain sleep is cheaper than racing `stop` (this runs for every event of every paced
            # stream in load tests); a disconnect or shutdown is noticed within one interval.
            await asyncio.sleep(fault.paced_stream_interval)
            return stop.is_set()
        return False


async def _wait(stop: asyncio.Event, seconds: float | None) -> bool:
    """Sleep `seconds` (None: until `stop`); True when `stop` cut it short."""
    if stop.is_set():
        return True
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True
