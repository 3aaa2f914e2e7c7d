"""What the rendered workloads promise: where each Secret goes, how every container runs, and how
every Deployment is probed, sized, spread, disrupted and stopped."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.manifests import OVERLAYS, Workload, render, secret_name, workloads

SERVICES = ("keyvault", "router", "chat-api")
# Secret -> the only workloads (by app.kubernetes.io/name) that may reference it, in any way.
SECRET_READERS = {
    "keyvault-keys": {"keyvault"},
    "router-platform-keys": {"router"},
    "chat-api-database": {"chat-api", "chat-api-migrate", "key-rotation"},
    "keyvault-tls": {"keyvault"},
    "router-tls": {"router"},
    "chat-api-tls": {"chat-api"},
    "key-rotation-tls": {"key-rotation"},
    "postgres": {"postgres"},
}
GRPC_HEALTH_PORTS = {"keyvault": 7311, "router": 7321}


def secret_references(pod: dict[str, Any]) -> set[str]:
    """Every Secret a pod spec can read: volumes (plain and projected), env and envFrom."""
    names = set()
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                names.add(source["secretRef"]["name"])
    return {secret_name(name) for name in names}


def all_workloads(overlay: str) -> list[Workload]:
    found = list(workloads(render(overlay)))
    assert {w.app for w in found} >= {*SERVICES, "chat-api-migrate", "key-rotation"}
    return found


def deployments(overlay: str) -> dict[str, Workload]:
    found = {w.name: w for w in all_workloads(overlay) if w.kind == "Deployment"}
    assert set(found) == set(SERVICES)
    return found


def objects_of(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in render(overlay) if obj["kind"] == kind}


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {env["name"]: env["value"] for env in container.get("env", []) if "value" in env}


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_secret_reaches_only_its_workloads(overlay: str) -> None:
    readers: dict[str, set[str]] = {}
    for workload in all_workloads(overlay):
        for name in secret_references(workload.pod):
            readers.setdefault(name, set()).add(workload.app)
    unknown = set(readers) - set(SECRET_READERS)
    assert not unknown, f"secrets nobody decided on: {unknown}"
    for name, apps in readers.items():
        assert apps <= SECRET_READERS[name], (name, apps)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_keyvault_mounts_the_private_keys(overlay: str) -> None:
    mounting = {w.app for w in all_workloads(overlay) if "keyvault-keys" in secret_references(w.pod)}
    assert mounting == {"keyvault"}
    keyvault = deployments(overlay)["keyvault"]
    (container,) = keyvault.pod["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "keys")
    assert mount["readOnly"] is True
    assert env_of(container)["KEYVAULT_KEYS_DIR"] == mount["mountPath"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_platform_keys_reach_only_the_router(overlay: str) -> None:
    holding = {w.app for w in all_workloads(overlay) if "router-platform-keys" in secret_references(w.pod)}
    assert holding == {"router"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_database_url_reaches_only_chat_api_and_its_jobs(overlay: str) -> None:
    holding = {w.app for w in all_workloads(overlay) if "chat-api-database" in secret_references(w.pod)}
    assert holding == {"chat-api", "chat-api-migrate", "key-rotation"}


# --- how every container runs ---------------------------------------------------------------------


def _effective(pod: dict[str, Any], container: dict[str, Any], field: str) -> Any:
    """A security setting as the kubelet applies it: the container's, else the pod's."""
    own = container.get("securityContext", {})
    return own[field] if field in own else pod.get("securityContext", {}).get(field)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down(overlay: str) -> None:
    for workload in all_workloads(overlay):
        pod = workload.pod
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(flag), (workload.name, flag)
        assert pod["automountServiceAccountToken"] is False, workload.name
        assert pod.get("serviceAccountName") == workload.app, workload.name
        for container in workload.containers():
            where = f"{workload.name}/{container['name']}"
            security = container.get("securityContext", {})
            assert _effective(pod, container, "runAsNonRoot") is True, where
            assert _effective(pod, container, "runAsUser") not in (None, 0), where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not security.get("capabilities", {}).get("add"), where
            assert not security.get("privileged"), where
            assert (_effective(pod, container, "seccompProfile") or {}).get("type") == "RuntimeDefault", where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_account_keeps_its_token_unmounted(overlay: str) -> None:
    accounts = objects_of(overlay, "ServiceAccount")
    assert set(accounts) >= {*SERVICES, "chat-api-migrate", "key-rotation"}
    for name, account in accounts.items():
        assert account.get("automountServiceAccountToken") is False, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_namespace_enforces_the_restricted_pod_security_standard(overlay: str) -> None:
    namespace = objects_of(overlay, "Namespace")["switchyard"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned_never_latest(overlay: str) -> None:
    for workload in all_workloads(overlay):
        for container in workload.containers():
            image = container["image"]
            if "@sha256:" in image:
                continue
            name, _, tag = image.rpartition(":")
            assert name, f"{image}: no tag"
            assert "/" not in tag, f"{image}: no tag"
            assert tag != "latest", image


# --- every Deployment ------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_probes_requests_and_limits(overlay: str) -> None:
    for name, deployment in deployments(overlay).items():
        for container in deployment.containers():
            assert container.get("readinessProbe"), name
            assert container.get("livenessProbe"), name
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert set(resources.get(bound, {})) >= {"cpu", "memory"}, (name, bound)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_and_limits(overlay: str) -> None:
    for workload in all_workloads(overlay):
        for container in workload.containers():
            resources = container.get("resources", {})
            assert set(resources.get("requests", {})) >= {"cpu", "memory"}, workload.name
            assert set(resources.get("limits", {})) >= {"cpu", "memory"}, workload.name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grpc_services_are_probed_natively_on_their_plaintext_health_port(overlay: str) -> None:
    found = deployments(overlay)
    for name, port in GRPC_HEALTH_PORTS.items():
        (container,) = found[name].containers()
        prefix = name.upper() + "_"
        assert env_of(container)[prefix + "HEALTH_PORT"] == str(port)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": port}, (name, probe)
        # The mTLS port is what the Service exposes; the health port is not.
        service = objects_of(overlay, "Service")[name]
        assert [p["port"] for p in service["spec"]["ports"]] == [int(env_of(container)[prefix + "PORT"])]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_chat_api_is_probed_on_readyz_and_healthz(overlay: str) -> None:
    (container,) = deployments(overlay)["chat-api"].containers()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert env_of(container)["CHAT_API_MIGRATE_ON_START"] == "false"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_and_spreads_across_nodes(overlay: str) -> None:
    budgets = objects_of(overlay, "PodDisruptionBudget")
    for name, deployment in deployments(overlay).items():
        assert budgets[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        keys = {c["topologyKey"] for c in deployment.pod.get("topologySpreadConstraints", [])}
        assert "kubernetes.io/hostname" in keys, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_router_and_chat_api_autoscale(overlay: str) -> None:
    autoscalers = objects_of(overlay, "HorizontalPodAutoscaler")
    assert set(autoscalers) == {"router", "chat-api"}
    for name, hpa in autoscalers.items():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        # The autoscaler owns the count; a replicas field would reset it on every apply.
        assert "replicas" not in objects_of(overlay, "Deployment")[name]["spec"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_outlasts_the_services_own_shutdown_grace(overlay: str) -> None:
    """Open streams get the service's grace after SIGTERM; kubelet must not SIGKILL before that."""
    for name, deployment in deployments(overlay).items():
        (container,) = deployment.containers()
        grace = float(env_of(container)[name.upper().replace("-", "_") + "_SHUTDOWN_GRACE_SECONDS"])
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert deployment.pod["terminationGracePeriodSeconds"] > grace + pre_stop, name
    for name in ("router", "chat-api"):
        (container,) = deployments(overlay)[name].containers()
        assert float(env_of(container)[name.upper().replace("-", "_") + "_SHUTDOWN_GRACE_SECONDS"]) >= 60


# --- the jobs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migration_job_and_key_rotation_template(overlay: str) -> None:
    jobs = {w.app: w for w in all_workloads(overlay) if w.kind in ("Job", "CronJob")}
    (migrate,) = jobs["chat-api-migrate"].containers()
    assert migrate["command"] == ["python", "-m", "chat_api.jobs.migrate"]
    (rotation,) = jobs["key-rotation"].containers()
    assert rotation["command"] == ["python", "-m", "chat_api.jobs.rotation"]
    assert "key-rotation-tls" in secret_references(jobs["key-rotation"].pod)
    # A template the operator starts by hand after adding a kid, never on a schedule.
    assert objects_of(overlay, "CronJob")["key-rotation"]["spec"]["suspend"] is True
