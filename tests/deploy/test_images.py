"""The service images, checked by reading their Dockerfiles (no Docker engine here), and
`make images` failing in one clear line when no engine is reachable."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.manifests import OVERLAYS, REPO_ROOT, render, workloads

ENTRYPOINTS = {"keyvault": "keyvault", "router": "router", "chat-api": "chat_api"}
LOCKS = re.compile(r"requirements/[\w.-]+\.lock")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def stages(dockerfile: Path) -> list[Stage]:
    """The build stages, each with its instructions (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    args: dict[str, str] = {}
    found: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not found and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value
        elif keyword == "FROM":
            image, _, alias = rest.partition(" AS ")
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image.strip())
            found.append(Stage(image, alias.strip() or None))
        else:
            assert found, f"{dockerfile}: {keyword} before FROM"
            found[-1].instructions.append((keyword, rest))
    return found


@pytest.mark.parametrize("service", ENTRYPOINTS)
def test_dockerfile_is_multi_stage_on_a_pinned_slim_python_3_11(service: str) -> None:
    built = stages(REPO_ROOT / "services" / service / "Dockerfile")
    assert len(built) >= 2
    for stage in built:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", stage.base), stage.base


@pytest.mark.parametrize("service", ENTRYPOINTS)
def test_dependencies_come_from_the_service_lock_in_the_builder(service: str) -> None:
    *builders, _ = stages(REPO_ROOT / "services" / service / "Dockerfile")
    copied = {lock for stage in builders for args in stage.of("COPY") for lock in LOCKS.findall(args)}
    assert copied == {f"requirements/{service}.lock"}
    installs = [args for stage in builders for args in stage.of("RUN") if "pip install" in args]
    assert any(f"-r /tmp/{service}.lock" in args and "--no-deps" in args for args in installs)


@pytest.mark.parametrize("service", ENTRYPOINTS)
def test_final_stage_runs_as_non_root_without_build_tools(service: str) -> None:
    *_, final = stages(REPO_ROOT / "services" / service / "Dockerfile")
    (user,) = final.of("USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), user
    assert int(uid) != 0, user
    runs = " ".join(final.of("RUN"))
    for forbidden in ("pip install", "apt-get install", "gcc", "build-essential", "--mount=type=cache"):
        assert forbidden not in runs, forbidden
    assert any(args.startswith("--from=") and "/opt/venv" in args for args in final.of("COPY"))
    assert any("PYTHONUNBUFFERED=1" in args for args in final.of("ENV"))


@pytest.mark.parametrize("service", ENTRYPOINTS)
def test_entrypoint_is_explicit_and_runs_the_service_module(service: str) -> None:
    *_, final = stages(REPO_ROOT / "services" / service / "Dockerfile")
    (entrypoint,) = final.of("ENTRYPOINT")
    assert json.loads(entrypoint) == ["python", "-m", ENTRYPOINTS[service]]


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    # Everything is excluded first; only the locks, the shared library and the services come back.
    assert next(line for line in ignore if line and not line.startswith("#")) == "*"
    included = {line[1:] for line in ignore if line.startswith("!")}
    assert not {entry for entry in included if entry.startswith((".dev", ".venv", "tests", "bench"))}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_image_in_the_manifests_is_one_make_images_builds(overlay: str) -> None:
    built = {f"switchyard/{service}" for service in ENTRYPOINTS}
    ours = set()
    for workload in workloads(render(overlay)):
        for container in workload.pod["containers"]:
            name = container["image"].split("@")[0].rpartition(":")[0]
            if name.rpartition("/")[2] in ENTRYPOINTS:
                ours.add("switchyard/" + name.rpartition("/")[2])
    assert ours == built


def test_make_images_without_a_docker_engine_fails_in_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    result = subprocess.run(
        ["make", "--no-print-directory", "images"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "building" not in result.stdout
    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith("make images: no Docker engine reachable")
