"""The gateways one benchmark run compares (`NAME|BASE_URL|TOKEN[|MODEL]`), their extra request
headers, and what of them a result file may show: never a token, never a secret-looking header."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, replace

__all__ = ["Target", "parse_header", "parse_target", "with_headers"]

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
# Authorization, x-api-key, cookies… are masked; routing headers such as x-portkey-provider are not.
SECRET_NAME = re.compile(
    r"auth|token|secret|cookie|passw|signature|credential|(^|[-_])(api[-_]?)?key($|[-_])", re.I
)
SECRET_VALUE = re.compile(r"api[-_]?key|token|secret|passw|bearer", re.I)


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    token: str = field(repr=False)
    model: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def headers_env(self) -> str:
        """The extra headers as BENCH_HEADERS, one 'Name: value' a line: the environment, not argv,
        carries them, so no recorded command line shows them."""
        return "\n".join(f"{name}: {value}" for name, value in self.headers)

    def public(self) -> dict[str, object]:
        """What runs.json records of this target."""
        shown = {name: "***" if _secret(name, value) else value for name, value in self.headers}
        return {"name": self.name, "base_url": self.base_url, "model": self.model, "headers": shown}


def _secret(name: str, value: str) -> bool:
    return bool(SECRET_NAME.search(name) or SECRET_VALUE.search(value))


def parse_target(text: str) -> Target:
    parts = text.split("|")
    if len(parts) not in (3, 4) or not all(parts[:3]):
        raise argparse.ArgumentTypeError("a target is NAME|BASE_URL|TOKEN[|MODEL]")
    model = parts[3] if len(parts) == 4 else None
    return Target(parts[0], parts[1].rstrip("/"), parts[2], model)


def parse_header(text: str) -> tuple[str, str, str]:
    """NAME=Header-Name:value → (target NAME, header, value); the value may hold ':' (URLs)."""
    target, sep, rest = text.partition("=")
    name, sep2, value = (part.strip() for part in rest.partition(":"))
    if not (sep and sep2 and target and HEADER_NAME.match(name)) or re.search(r"[\r\n\0]", value):
        raise argparse.ArgumentTypeError("a header is TARGET_NAME=Header-Name:value")
    return target, name, value


def with_headers(targets: list[Target], headers: list[tuple[str, str, str]]) -> list[Target]:
    """Each target with the --header values addressed to it; refuses unknown or repeated names."""
    names = [target.name for target in targets]
    if len(set(names)) != len(names):
        raise SystemExit("target names must be unique")
    unknown = {target for target, _, _ in headers} - set(names)
    if unknown:
        raise SystemExit(f"--header for unknown target(s) {sorted(unknown)} (targets: {names})")
    return [replace(t, headers=tuple((n, v) for to, n, v in headers if to == t.name)) for t in targets]
