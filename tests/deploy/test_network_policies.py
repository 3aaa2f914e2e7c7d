"""The network policies, read as the cluster applies them: default deny, then each caller by name.

For one app's pods, `allowed()` gathers every rule of every policy that selects them and states
each as (peer, port): ("pod", app), ("namespace", ns, app), ("cidr", block, exceptions) or ("any",).
Policies are additive, so that set is exactly what may connect.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.manifests import OVERLAYS, render, selects

Allowance = tuple[tuple[str, ...], str]
DNS = {
    (("namespace", "kube-system", "kube-dns"), "UDP/53"),
    (("namespace", "kube-system", "kube-dns"), "TCP/53"),
}
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")


def _peer(peer: dict[str, Any]) -> tuple[str, ...]:
    if "ipBlock" in peer:
        return ("cidr", peer["ipBlock"]["cidr"], *sorted(peer["ipBlock"].get("except", [])))
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    pod = pods.get("app.kubernetes.io/name") or pods.get("k8s-app") or "*"
    if "namespaceSelector" in peer:
        namespace = peer["namespaceSelector"].get("matchLabels", {}).get("kubernetes.io/metadata.name", "*")
        return ("namespace", namespace, pod)
    return ("pod", pod)


def allowed(overlay: str, app: str, direction: str) -> set[Allowance]:
    """What may reach `app`'s pods ("ingress") or what they may reach ("egress")."""
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "switchyard"}
    policy_type, peers_key = ("Ingress", "from") if direction == "ingress" else ("Egress", "to")
    result: set[Allowance] = set()
    for policy in render(overlay):
        if policy["kind"] != "NetworkPolicy" or policy_type not in policy["spec"]["policyTypes"]:
            continue
        if not selects(policy["spec"]["podSelector"], labels):
            continue
        for rule in policy["spec"].get(direction, []):
            peers = [_peer(p) for p in rule.get(peers_key, [])] or [("any",)]
            ports = [f"{p.get('protocol', 'TCP')}/{p['port']}" for p in rule.get("ports", [])] or ["any"]
            result |= {(peer, port) for peer in peers for port in ports}
    return result


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_denied_by_default(overlay: str) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in render(overlay) if p["kind"] == "NetworkPolicy"}
    deny = policies["default-deny-all"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # Nothing anywhere admits "any peer" or "any port".
    apps = ("keyvault", "router", "chat-api", "chat-api-migrate", "key-rotation", "nats", "postgres")
    for app in apps:
        for direction in ("ingress", "egress"):
            for peer, port in allowed(overlay, app, direction):
                assert peer != ("any",), (app, direction, port)
                assert port != "any", (app, direction, peer)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keyvault_admits_only_its_callers_on_the_grpc_port(overlay: str) -> None:
    """router (Decrypt; it relays the public key to chat-api) and the rotation job (Rewrap) only."""
    assert allowed(overlay, "keyvault", "ingress") == {
        (("pod", "router"), "TCP/7310"),
        (("pod", "key-rotation"), "TCP/7310"),
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keyvault_reaches_only_nats_and_dns(overlay: str) -> None:
    assert allowed(overlay, "keyvault", "egress") == {(("pod", "nats"), "TCP/4222"), *DNS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_router_admits_chat_api_and_reaches_keyvault_nats_dns_and_the_internet_on_443(overlay: str) -> None:
    assert allowed(overlay, "router", "ingress") == {(("pod", "chat-api"), "TCP/7320")}
    egress = allowed(overlay, "router", "egress")
    internet = {(peer, port) for peer, port in egress if peer[0] == "cidr"}
    assert internet == {(peer, "TCP/443") for peer, _ in internet}
    ((peer, _),) = internet
    assert peer[1] == "0.0.0.0/0"
    assert set(PRIVATE) <= set(peer[2:])
    assert egress - internet == {(("pod", "keyvault"), "TCP/7310"), (("pod", "nats"), "TCP/4222"), *DNS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_chat_api_admits_only_the_ingress_controller(overlay: str) -> None:
    assert allowed(overlay, "chat-api", "ingress") == {
        (("namespace", "ingress-nginx", "ingress-nginx"), "TCP/8000")
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_chat_api_reaches_postgres_nats_router_and_dns_never_keyvault(overlay: str) -> None:
    egress = allowed(overlay, "chat-api", "egress")
    database = {(peer, port) for peer, port in egress if port == "TCP/5432"}
    assert len(database) == 1
    expected = {
        (("pod", "router"), "TCP/7320"),
        (("pod", "nats"), "TCP/4222"),
        *DNS,
    }
    assert egress - database == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_jobs_reach_only_what_they_need(overlay: str) -> None:
    for app in ("chat-api-migrate", "key-rotation"):
        assert allowed(overlay, app, "ingress") == set()
    migrate = allowed(overlay, "chat-api-migrate", "egress")
    assert {port for _, port in migrate} == {"TCP/5432", "UDP/53", "TCP/53"}
    rotation = allowed(overlay, "key-rotation", "egress")
    assert {port for _, port in rotation} == {"TCP/7310", "TCP/5432", "UDP/53", "TCP/53"}
    assert (("pod", "keyvault"), "TCP/7310") in rotation


def test_dev_database_is_in_the_namespace_and_prod_database_is_an_address_block() -> None:
    assert (("pod", "postgres"), "TCP/5432") in allowed("dev", "chat-api", "egress")
    assert allowed("dev", "postgres", "ingress") == {
        (("pod", app), "TCP/5432") for app in ("chat-api", "chat-api-migrate", "key-rotation")
    }
    prod = {peer for peer, port in allowed("prod", "chat-api", "egress") if port == "TCP/5432"}
    assert [peer[0] for peer in prod] == ["cidr"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_admits_the_three_services_and_its_peers(overlay: str) -> None:
    assert allowed(overlay, "nats", "ingress") == {
        *((("pod", app), "TCP/4222") for app in ("keyvault", "router", "chat-api")),
        (("pod", "nats"), "TCP/6222"),
    }
