"""How every Switchyard gRPC service listens: mTLS with per-method SPIFFE authorization, gRPC
health and reflection on the main port, and a plaintext health-only port for kubelet probes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from switchyard_common.authz import ANY_AUTHENTICATED, Allow, SpiffeAuthorizer
from switchyard_common.malformed import MalformedRequests
from switchyard_common.mtls import TLSFiles, server_credentials

__all__ = ["Endpoints", "PortInUse", "health_and_reflection_policy", "start_endpoints"]

logger = logging.getLogger(__name__)

HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
REFLECTION_SERVICE: str = reflection.SERVICE_NAME
# gRPC binds with SO_REUSEPORT by default: a second process on the same port would silently
# share its traffic instead of failing with PortInUse.
NO_PORT_SHARING = [("grpc.so_reuseport", 0)]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class PortInUse(Exception):
    """A configured port could not be bound."""


def health_and_reflection_policy() -> dict[str, Allow]:
    return {
        f"/{HEALTH_SERVICE}/Check": ANY_AUTHENTICATED,
        f"/{HEALTH_SERVICE}/Watch": ANY_AUTHENTICATED,
        f"/{REFLECTION_SERVICE}/ServerReflectionInfo": ANY_AUTHENTICATED,
    }


def _bind(server: aio.Server, address: str, credentials: grpc.ServerCredentials | None, setting: str) -> int:
    try:
        port = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError:
        port = 0
    if port == 0:
        raise PortInUse(f"cannot listen on {address}: the port is in use; set {setting} to a free port")
    return port


@dataclass
class Endpoints:
    servers: list[aio.Server]
    health: health_aio.HealthServicer
    port: int
    health_port: int
    service_name: str

    async def set_serving(self, serving: bool) -> None:
        for name in ("", self.service_name):
            await self.health.set(name, SERVING if serving else NOT_SERVING)

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await asyncio.gather(*(server.stop(grace) for server in self.servers))


async def start_endpoints(
    *,
    service_name: str,
    register: Callable[[aio.Server], None],
    policy: Mapping[str, Allow],
    host: str,
    port: int,
    health_port: int,
    tls_files: TLSFiles,
    env_prefix: str,
    max_message_bytes: int | None = None,
) -> Endpoints:
    """Bind and start; health starts NOT_SERVING until the service calls `set_serving(True)`.

    `max_message_bytes` bounds a received message (gRPC's default is 4 MiB); a larger one is
    refused with RESOURCE_EXHAUSTED before it reaches the service.
    """
    health = health_aio.HealthServicer()
    options = list(NO_PORT_SHARING)
    if max_message_bytes is not None:
        options.append(("grpc.max_receive_message_length", max_message_bytes))
    # The authorizer first: a caller it denies never learns whether its bytes parsed.
    interceptors = [SpiffeAuthorizer(policy), MalformedRequests()]
    main = aio.server(interceptors=interceptors, options=options)
    register(main)
    health_pb2_grpc.add_HealthServicer_to_server(health, main)
    reflection.enable_server_reflection([service_name, HEALTH_SERVICE, REFLECTION_SERVICE], main)
    servers = [main]
    bound = _bind(main, f"{host}:{port}", server_credentials(tls_files), f"{env_prefix}PORT")
    bound_health = 0
    if health_port:
        # Kubelet's gRPC probes carry no client certificate: health only, on its own port.
        probe = aio.server(options=NO_PORT_SHARING)
        health_pb2_grpc.add_HealthServicer_to_server(health, probe)
        bound_health = _bind(probe, f"{host}:{health_port}", None, f"{env_prefix}HEALTH_PORT")
        servers.append(probe)
    endpoints = Endpoints(
        servers=servers, health=health, port=bound, health_port=bound_health, service_name=service_name
    )
    await endpoints.set_serving(False)
    for server in servers:
        await server.start()
    return endpoints
