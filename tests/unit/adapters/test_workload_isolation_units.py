"""The pure parts of tenancy, hardware, exposure and the workload refusals, without a cluster."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from legato.adapters.errors import InvalidRequest
from legato.adapters.secrets import VaultSettings, read_vault, vault_path
from legato.adapters.wdm import exposure, tenancy
from legato.adapters.wdm.hardware import GPU, HUGEPAGES, NETWORKS, SRIOV, hardware_errors, node_capacity, pod_resources
from legato.adapters.wdm.helm import release_name
from legato.model import Host, ServiceSpec
from legato.model.backends import Publication, SiteBackends
from legato.model.charts import ChartSource
from legato.model.service import SecretRef
from legato.model.workloads import WorkloadSpec
from legato.validation import looks_like_credential, workload_errors


def spec(**component) -> ServiceSpec:
    return ServiceSpec.model_validate({"name": "s", "components": [{"name": "a", "image": "i", **component}]})


def workload(**extra) -> WorkloadSpec:
    fields = {"id": "a-1", "replicas": 2, "cpu": 0.5, "memory_mb": 256, "ports": [8080]} | extra
    return WorkloadSpec(service_id="svc", tenant="t", component="a", image="i", version="1", **fields)


def test_vm_and_credentials_in_env_are_refused_naming_the_field_never_the_value():
    errors = workload_errors(spec(kind="vm", env={"DB_PASSWORD": "hunter2-marker", "LOG_LEVEL": "debug",
                                                  "DB_PASSWORD_FILE": "/run/secrets/db", "TOKEN_TTL": "30"}))
    by_loc = {tuple(e["loc"]): e["msg"] for e in errors}
    assert by_loc[("body", "components", 0, "kind")].startswith("VM workloads are not supported yet")
    assert "secret_env" in by_loc[("body", "components", 0, "env", "DB_PASSWORD")]
    assert len(errors) == 2 and all("hunter2-marker" not in e["msg"] for e in errors)
    assert workload_errors(spec(env={"LOG_LEVEL": "debug"}, secret_env={
        "DB_PASSWORD": {"kubernetes": "db", "key": "password"}})) == []


@pytest.mark.parametrize(("name", "value", "credential"), [
    ("API_KEY", "x", True), ("apiKey", "x", True), ("AWS_SECRET_ACCESS_KEY", "x", True), ("PGPASSWORD", "", False),
    ("DATABASE_URL", "postgres://shop:s3cret@db/shop", True), ("DATABASE_URL", "postgres://db/shop", False),
    ("CERT", "-----BEGIN EC PRIVATE KEY-----", True), ("POSTGRES_HOST_AUTH_METHOD", "trust", False),
    ("KEYCLOAK_TOKEN_ENDPOINT", "https://kc/token", False), ("MODEL", "yolov8s", False),
])  # fmt: skip
def test_what_looks_like_a_credential(name, value, credential):
    assert looks_like_credential(name, value) is credential


def test_secret_refs_name_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        SecretRef(key="k")
    with pytest.raises(ValueError, match="exactly one"):
        SecretRef(kubernetes="a", vault="b", key="k")
    with pytest.raises(ValueError):
        spec(secret_env={"not a name": {"vault": "p", "key": "k"}})


def test_hardware_becomes_resources_a_node_advertises_and_a_pod_requests():
    upf = pod_resources(4, 8192, 0, ["dpdk", "hugepages", "ptp", "sriov"])
    assert upf == {"cpu": "4", "memory": "256Mi", SRIOV: "1", HUGEPAGES: "8Gi"}
    assert pod_resources(0.5, 300, 1, ["gpu-t4"]) == {"cpu": "500m", "memory": "300Mi", GPU: "1"}
    host = Host(id="h", cpu=16.5, memory_mb=32768 + 512, gpu=2, features=["sriov", "hugepages"])
    assert node_capacity(host) == {GPU: "2", SRIOV: "16", HUGEPAGES: "32Gi"}
    assert node_capacity(Host(id="h", cpu=4, memory_mb=4096, features=["dpdk"])) == {}
    # Pinned cores are whole; huge pages are whole GiB; the API says so naming the field.
    assert [f for f, _ in hardware_errors(2.5, 3000, ["sriov", "hugepages"])] == ["cpu", "memory_mb"]
    by_loc = {tuple(e["loc"][-1:]): e["msg"] for e in workload_errors(spec(cpu=1.5, features=["dpdk"]))}
    assert "whole number of vCPU" in by_loc[("cpu",)]


def test_sriov_attaches_through_the_sites_network():
    from legato.adapters.wdm.hardware import pod_annotations

    assert pod_annotations(["sriov"]) == {NETWORKS: '[{"name": "sriov-net"}]'}
    assert pod_annotations(["sriov"], "net/fh") == {NETWORKS: '[{"name": "fh", "namespace": "net"}]'}
    assert pod_annotations(["dpdk"]) == {}


def test_the_quota_is_the_grant_with_one_surge_replica_per_workload():
    grants = {"a-1": tenancy.grant_of(workload()), "b-1": tenancy.grant_of(
        workload(id="b-1", cpu=2, memory_mb=2048, features=["sriov", "hugepages"]), replicas=1)}
    hard = tenancy.hard_limits(grants)
    assert hard["pods"] == "5" and hard["requests.cpu"] == "5500m"  # 3 x 500m + 2 x 2
    assert hard["requests.memory"] == f"{3 * 256 + 2 * 256}Mi" and hard[f"requests.{HUGEPAGES}"] == "4Gi"
    assert hard[f"requests.{SRIOV}"] == "2" and hard[f"requests.{GPU}"] == "0"


def test_namespaces_are_labels_of_their_own_and_never_meet():
    assert tenancy.service_namespace("shop-1a2b3c") == "legato-shop-1a2b3c"
    long = "x" * 70
    ns = tenancy.service_namespace(long)
    assert len(ns) <= 63 and ns != tenancy.service_namespace(long + "y")
    assert tenancy.tenant_secrets_namespace("demo") == "legato-secrets-demo"
    assert len(tenancy.tenant_secrets_namespace("Acme Corp")) <= 63


def test_the_policy_admits_the_services_own_links_or_any_source_when_published():
    private = tenancy.workload_policy(workload(ingress_from=["api"]), "ns", [5432])
    [rule] = private["spec"]["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchExpressions": [{"key": tenancy.COMPONENT, "operator": "In", "values": ["api"]}]}},
        {"podSelector": {"matchExpressions": [{"key": tenancy.INSTANCE, "operator": "Exists"},  # chart pods
                                              {"key": tenancy.WORKLOAD, "operator": "DoesNotExist"}]}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert tenancy.workload_policy(workload(), "ns", [80])["spec"]["ingress"] == []  # nobody linked: denied
    assert tenancy.workload_policy(workload(published=True), "ns", [80])["spec"]["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": 80}]}]


def test_a_charts_policy_selects_its_release_pods_on_every_port():
    chart = ChartSource(ref="https://charts.example", name="upf")
    policy = tenancy.workload_policy(workload(chart=chart, ingress_from=["smf"]), "ns", [2152])
    assert policy["spec"]["podSelector"] == {"matchLabels": {tenancy.INSTANCE: release_name("a-1")}}
    [rule] = policy["spec"]["ingress"]
    assert "ports" not in rule  # the chart's Services say which ports its pods serve
    long = "x" * 70
    assert tenancy.pods_of(workload(id=long, chart=chart)) == {"matchLabels": {tenancy.INSTANCE: release_name(long)}}
    assert tenancy.pods_of(workload()) == {"matchLabels": {tenancy.WORKLOAD: "a-1"}}


def _svc(kind: str, ports: list[tuple[int, int | None]], lb: str | None = None):
    return SimpleNamespace(
        spec=SimpleNamespace(type=kind, cluster_ip="10.0.0.9",
                             ports=[SimpleNamespace(port=p, node_port=n) for p, n in ports]),
        status=SimpleNamespace(load_balancer=SimpleNamespace(
            ingress=[SimpleNamespace(ip=lb, hostname=None)] if lb else None)))  # fmt: skip


def _node(name: str, *addresses: tuple[str, str]):
    return SimpleNamespace(metadata=SimpleNamespace(name=name), status=SimpleNamespace(
        addresses=[SimpleNamespace(type=t, address=a) for t, a in addresses]))


def test_endpoints_list_every_port_at_the_address_users_reach():
    node_port = _svc("NodePort", [(2152, 31001), (8805, 31002)])
    nodes = [_node("b", ("InternalIP", "192.0.2.2")), _node("a", ("Hostname", "a"), ("InternalIP", "192.0.2.1"))]
    assert exposure.endpoint(node_port, Publication(), nodes) == "192.0.2.1:31001,192.0.2.1:31002"
    assert exposure.endpoint(node_port, Publication(address="edge.example")) == "edge.example:31001,edge.example:31002"
    assert exposure.endpoint(_svc("LoadBalancer", [(443, 30443)]), Publication(via="load-balancer")) is None
    assert exposure.endpoint(_svc("LoadBalancer", [(443, 30443)], "198.51.100.1"), Publication()) == "198.51.100.1:443"
    assert exposure.endpoint(_svc("ClusterIP", [(80, None)]), Publication()) == "10.0.0.9:80"
    via = Publication(via="gateway", gateway="gw/edge", hostname="apps.example")
    assert exposure.service(workload(published=True), "ns", {}, via)["spec"]["type"] == "ClusterIP"
    assert exposure.service(workload(published=True), "ns", {}, Publication())["spec"]["type"] == "NodePort"
    assert exposure.service(workload(), "ns", {}, Publication(via="load-balancer"))["spec"]["type"] == "ClusterIP"
    [route] = exposure.routes(workload(published=True), "ns", via)
    assert route["spec"]["hostnames"] == ["a-8080.svc.apps.example"]
    assert route["spec"]["parentRefs"] == [{"name": "edge", "namespace": "gw"}]
    with pytest.raises(ValueError, match="gateway"):
        SiteBackends(mcm="kwok", wdm="kubernetes", publish={"via": "gateway"})


def test_vault_references_stay_under_the_tenants_prefix_and_errors_hold_no_value():
    settings = VaultSettings(addr=None, prefix="legato")
    assert vault_path("acme", "shop/db", settings) == "legato/acme/shop/db"
    with pytest.raises(InvalidRequest, match="no Vault is configured"):
        read_vault("acme", SecretRef(vault="shop/db", key="password"), settings)
    unreachable = VaultSettings(addr="http://127.0.0.1:9", token="env:LEGATO_TEST_NO_SUCH_VARIABLE")
    with pytest.raises(InvalidRequest, match="LEGATO_TEST_NO_SUCH_VARIABLE is not set"):
        read_vault("acme", SecretRef(vault="shop/db", key="password"), unreachable)
