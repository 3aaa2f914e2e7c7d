"""Remote control: ``/_sim/...``, scripting a simulator that runs in another process.

``POST /_sim/fail_next`` with ``{"provider": ..., <fail_next keyword arguments>}``;
``POST /_sim/clear_faults`` with ``{"provider": ...}`` or ``{}``; ``POST /_sim/valid_keys``
with ``{"provider": ..., "keys": [...] | null}``; ``POST /_sim/reset``;
``POST /_sim/release_held``; ``GET /_sim/calls``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from switchyard_dev.provider_sim.simulator import ProviderSimulator

_Command = Callable[["ProviderSimulator", dict[str, Any]], dict[str, Any]]
_OK: dict[str, Any] = {"ok": True}


def _fail_next(sim: ProviderSimulator, args: dict[str, Any]) -> dict[str, Any]:
    return {"fault": asdict(sim.fail_next(**args))}


def _clear_faults(sim: ProviderSimulator, args: dict[str, Any]) -> dict[str, Any]:
    sim.clear_faults(args.get("provider"))
    return _OK


def _valid_keys(sim: ProviderSimulator, args: dict[str, Any]) -> dict[str, Any]:
    sim.set_valid_keys(args["provider"], args.get("keys"))
    return _OK


def _reset(sim: ProviderSimulator, args: dict[str, Any]) -> dict[str, Any]:
    sim.reset()
    return _OK


def _release_held(sim: ProviderSimulator, args: dict[str, Any]) -> dict[str, Any]:
    return {"released": sim.release_held()}


def _calls(sim: ProviderSimulator, args: dict[str, Any]) -> dict[str, Any]:
    return {"calls": [asdict(call) for call in sim.calls], "violations": sim.violations}


_COMMANDS: dict[tuple[str, str], _Command] = {
    ("POST", "fail_next"): _fail_next,
    ("POST", "clear_faults"): _clear_faults,
    ("POST", "valid_keys"): _valid_keys,
    ("POST", "reset"): _reset,
    ("POST", "release_held"): _release_held,
    ("GET", "calls"): _calls,
}


async def remote_control(sim: ProviderSimulator, request: Request) -> JSONResponse:
    """Run one ``/_sim/{command}`` on `sim`: 404 for an unknown command, 400 for bad arguments."""
    command = request.path_params["command"]
    args: Any = await request.json() if request.method == "POST" and await request.body() else {}
    if not isinstance(args, dict):
        return JSONResponse({"error": "expected a JSON object"}, status_code=400)
    run = _COMMANDS.get((request.method, command))
    if run is None:
        return JSONResponse({"error": f"unknown command {request.method} {command}"}, status_code=404)
    try:
        return JSONResponse(run(sim, args))
    except (TypeError, ValueError, KeyError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
