"""The floor of our fixed architecture: the hops every Switchyard chat request must cross, with
nothing else in them.

`edge` is a bare ASGI app on uvicorn (httptools + uvloop: chat-api's server, without FastAPI,
auth, database or JSON parsing); it forwards the request body over one mutual-TLS gRPC channel to
`relay`, a bare grpc.aio server (the router's server, without routing, keys or adapters), which
POSTs the body to the upstream with httpcore (the router's transport) and returns the reply bytes.
No protobuf either: the gRPC method carries raw bytes.

`--direct` starts the edge alone, POSTing to the upstream itself with httpcore: one Python process,
no gRPC hop (not our architecture; it measures what the hop to the router costs and what a single
Python process costs at least).

Any real chat-api + router does at least this much work per request, so its CPU per request, as
the gateway harness measures it beside the peers in one run, is a lower bound for ours. Run by
`make bench-floor` (bench/gateway/run.sh with FLOOR=1).

    python bench/gateway/floor.py --upstream http://127.0.0.1:18080/v1
prints one JSON line {"pid", "base_url"} and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import grpc
import httpcore

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tools" / "devstack" / "src")]

from procstats import free_port  # noqa: E402

from switchyard_dev.pki import ensure_dev_pki  # noqa: E402

METHOD = "/floor.Relay/Forward"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def _identity(data: bytes) -> bytes:
    return data


def _credentials(pki: Path, name: str) -> tuple[bytes, bytes, bytes]:
    return (
        (pki / "ca.pem").read_bytes(),
        (pki / f"{name}.pem").read_bytes(),
        (pki / f"{name}-key.pem").read_bytes(),
    )


async def serve_relay(pki: Path, port: int, upstream: str) -> None:
    pool = httpcore.AsyncConnectionPool(max_connections=64, keepalive_expiry=60.0)
    url = f"{upstream.rstrip('/')}/chat/completions".encode()

    async def forward(body: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        token = dict(context.invocation_metadata() or ()).get("authorization", "")
        reply = await pool.request(
            b"POST",
            url,
            headers=[(b"content-type", b"application/json"), (b"authorization", str(token).encode())],
            content=body,
        )
        return bytes(reply.content)

    handler = grpc.method_handlers_generic_handler(
        "floor.Relay",
        {
            "Forward": grpc.unary_unary_rpc_method_handler(
                forward, request_deserializer=_identity, response_serializer=_identity
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    ca, cert, key = _credentials(pki, "router")
    server.add_secure_port(
        f"127.0.0.1:{port}",
        grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True),
    )
    await server.start()
    await server.wait_for_termination()


def edge_app(pki: Path, relay_port: int, upstream: str) -> Callable[..., Awaitable[None]]:
    ca, cert, key = _credentials(pki, "chat-api")
    forward: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] | None = None
    pool = httpcore.AsyncConnectionPool(max_connections=64, keepalive_expiry=60.0)
    url = f"{upstream.rstrip('/')}/chat/completions".encode()

    async def post_upstream(body: bytes, token: str) -> bytes:
        reply = await pool.request(
            b"POST",
            url,
            headers=[(b"content-type", b"application/json"), (b"authorization", token.encode())],
            content=body,
        )
        return bytes(reply.content)

    async def app(scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        nonlocal forward
        if scope["type"] != "http":
            return
        if forward is None and relay_port:  # the channel is created on the server's own loop
            channel = grpc.aio.secure_channel(
                f"localhost:{relay_port}",
                grpc.ssl_channel_credentials(ca, key, cert),
            )
            forward = channel.unary_unary(
                METHOD, request_serializer=_identity, response_deserializer=_identity
            )
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        token = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode()
        if forward is None:
            reply = await post_upstream(body, token)
        else:
            reply = await forward(body, metadata=(("authorization", token),))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": reply})

    return app


def serve_edge(pki: Path, port: int, relay_port: int, upstream: str) -> None:
    import uvicorn

    uvicorn.run(
        edge_app(pki, relay_port, upstream),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"floor: nothing listens on {port}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--role", choices=["relay", "edge"])
    parser.add_argument("--pki", type=Path)
    parser.add_argument("--port", type=int)
    parser.add_argument("--relay-port", type=int, default=0, help="0: the edge calls the upstream itself")
    parser.add_argument("--direct", action="store_true", help="the edge alone, without the gRPC hop")
    args = parser.parse_args()
    if args.role == "relay":
        asyncio.run(serve_relay(args.pki, args.port, args.upstream))
        return 0
    if args.role == "edge":
        serve_edge(args.pki, args.port, args.relay_port, args.upstream)
        return 0

    with tempfile.TemporaryDirectory(prefix="switchyard-floor-") as work:
        pki = Path(work) / "pki"
        ensure_dev_pki(pki)
        relay_port, edge_port = free_port(), free_port()
        common = [sys.executable, __file__, "--upstream", args.upstream, "--pki", str(pki)]
        edge = [*common, "--role", "edge", "--port", str(edge_port)]
        if args.direct:
            relay_port, children = edge_port, [subprocess.Popen(edge)]
        else:
            children = [
                subprocess.Popen([*common, "--role", "relay", "--port", str(relay_port)]),
                subprocess.Popen([*edge, "--relay-port", str(relay_port)]),
            ]
        stop = False

        def _stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        try:
            deadline = time.monotonic() + 30
            _wait_for_port(relay_port, deadline)
            _wait_for_port(edge_port, deadline)
            print(json.dumps({"pid": os.getpid(), "base_url": f"http://127.0.0.1:{edge_port}"}), flush=True)
            while not stop and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
