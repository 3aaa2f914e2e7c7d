"""Every overlay renders with `kubectl kustomize`, and every object it renders validates strictly.

Built-in kinds are checked against the Kubernetes OpenAPI schemas shipped by kubernetes-validate
(offline, strict: unknown fields fail); cert-manager's kinds against tests/deploy/crd_schemas.py.
A kind with no schema at all fails too, so nothing reaches a cluster unchecked.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy.crd_schemas import CUSTOM_SCHEMAS
from tests.deploy.manifests import OVERLAYS, render

# The oldest Kubernetes the manifests support: native gRPC probes (1.27) and the preStop sleep
# action (1.30) are the newest features they use.
KUBERNETES_VERSION = "1.30"


def validation_errors(obj: dict[str, Any]) -> list[str]:
    """Why `obj` would be refused, as "<kind>/<name>: <path>: <message>" lines (empty when valid)."""
    where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    custom = CUSTOM_SCHEMAS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if custom is not None:
        validator = jsonschema.Draft202012Validator(custom)
        return [f"{where}: {'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{where}: no schema: {exc.message}"]
    return []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_every_object_validates_strictly(overlay: str) -> None:
    objects = render(overlay)
    assert len(objects) > 20
    errors = [error for obj in objects for error in validation_errors(obj)]
    assert errors == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_lives_in_the_switchyard_namespace(overlay: str) -> None:
    for obj in render(overlay):
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "switchyard", obj["metadata"]["name"]


def test_the_validator_is_strict() -> None:
    """A misspelt field, a wrong type and an unknown kind are each refused: the test above means something."""
    deployment = next(obj for obj in render("prod") if obj["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readOnlyRootFileSystem"] = True  # the real field is securityContext.readOnlyRootFilesystem
    assert validation_errors(deployment)
    del container["readOnlyRootFileSystem"]
    assert validation_errors(deployment) == []
    deployment["spec"]["replicas"] = "three"
    assert validation_errors(deployment)

    certificate = next(obj for obj in render("prod") if obj["kind"] == "Certificate")
    certificate["spec"]["uri"] = certificate["spec"].pop("uris")
    assert validation_errors(certificate)
    assert validation_errors({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
