"""Tenants, hardware, endpoints and secrets on real control planes (kube-apiserver, scheduler and
controller manager; kwok nodes): what the API server and kube-scheduler enforce themselves.

kwok has no data plane, so NetworkPolicies are checked as stored objects; quotas (admission) and
extended resources (scheduling) are enforced by the real servers."""

from __future__ import annotations

import asyncio
import base64

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from legato.adapters.errors import InvalidRequest
from legato.adapters.mcm.kwok import KwokMCM
from legato.adapters.wdm import tenancy
from legato.adapters.wdm.exposure import Publications
from legato.adapters.wdm.hardware import HUGEPAGES, NETWORKS, SRIOV
from legato.adapters.wdm.kubernetes import GPU, KubernetesWDM, secret_name
from legato.model import Host, Site
from legato.model.backends import Publication, SiteBackends, SitePublication
from legato.model.service import SecretRef
from legato.model.workloads import WorkloadSpec
from tests.real.testbed import delete_every_cluster
from tests.real.waiting import until

HOSTS = [Host(id="iso-h1", cpu=4, memory_mb=8192),
         Host(id="iso-h2", cpu=4, memory_mb=8192, features=["sriov", "dpdk", "hugepages"]),
         Host(id="iso-h3", cpu=8, memory_mb=16384, gpu=1, features=["gpu-t4"])]  # fmt: skip
MARKER = "marker-7f3c9e-not-for-logs"


def site(publish: SitePublication | None = None) -> Site:
    return Site(id="edge-iso", tier="edge", provider="p", region="r", country="FR", lat=45, lon=5,
                cost_per_vcpu_hour=0.1, hosts=HOSTS, backend=SiteBackends(mcm="kwok", wdm="kubernetes",
                                                                         publish=publish))  # fmt: skip


@pytest.fixture(scope="module")
async def kwok(kube_bin, tmp_path_factory):
    mcm = KwokMCM([site()], kube_bin, tmp_path_factory.mktemp("kwok-iso"))
    await mcm.create_cluster("op-create-iso", "iso", "edge-iso", [h.id for h in HOSTS], owner="")
    yield mcm
    await delete_every_cluster(mcm)


def wdm_with(kwok: KwokMCM, via: Publication | None = None) -> KubernetesWDM:
    publish = SitePublication(clusters={"iso": via}) if via is not None else None
    return KubernetesWDM(kwok, Publications([site(publish)], kwok))


def spec(service_id: str, tenant: str, component: str, **extra) -> WorkloadSpec:
    fields = {"replicas": 1, "cpu": 0.5, "memory_mb": 256, "ports": [8080]} | extra
    return WorkloadSpec(id=f"{component}-{service_id}", service_id=service_id, tenant=tenant, component=component,
                        image="registry/app", version="1.0", **fields)  # fmt: skip


async def apis(kwok: KwokMCM):
    api = await kwok.api_client("iso")
    return client.AppsV1Api(api), client.CoreV1Api(api), client.NetworkingV1Api(api)


async def ready(wdm: KubernetesWDM, workload_id: str):
    status = await wdm.status("iso", workload_id)
    return status if status is not None and status.ready else None


async def pods_of(core: client.CoreV1Api, ns: str, workload_id: str) -> list[client.V1Pod]:
    found = await asyncio.to_thread(core.list_namespaced_pod, ns, label_selector=f"legato.io/workload={workload_id}")
    return [p for p in found.items if p.metadata.deletion_timestamp is None]


async def namespace_gone(core: client.CoreV1Api, ns: str) -> bool:
    try:
        found = await asyncio.to_thread(core.read_namespace, ns)
    except ApiException as err:
        return err.status == 404
    return found.status.phase == "Terminating"


async def test_two_tenants_on_one_cluster_get_their_own_namespace_quota_and_policy(kwok):
    wdm = wdm_with(kwok)
    apps, core, net = await apis(kwok)
    api = spec("svc-a", "alpha", "api", replicas=2, published=True)
    db = spec("svc-b", "beta", "db", ports=[5432], ingress_from=["api"])
    await wdm.deploy("op-a", "iso", api)
    await wdm.deploy("op-b", "iso", db)
    await until(lambda: ready(wdm, api.id))
    await until(lambda: ready(wdm, db.id))
    ns_a, ns_b = tenancy.service_namespace("svc-a"), tenancy.service_namespace("svc-b")
    assert (ns_a, ns_b) == ("legato-svc-a", "legato-svc-b")
    for ns, tenant, workload in ((ns_a, "alpha", api.id), (ns_b, "beta", db.id)):
        labels = (await asyncio.to_thread(core.read_namespace, ns)).metadata.labels
        assert labels[tenancy.TENANT] == tenant
        names = [d.metadata.name for d in (await asyncio.to_thread(apps.list_namespaced_deployment, ns)).items]
        assert names == [workload]  # never another tenant's object in the namespace
    # The quota is the grant, with one surge replica: 3 pods of 500m / 256Mi for api, no device.
    quota = await asyncio.to_thread(core.read_namespaced_resource_quota, tenancy.QUOTA, ns_a)
    assert quota.spec.hard["pods"] == "3" and quota.spec.hard["requests.cpu"] == "1500m"
    assert quota.spec.hard["limits.memory"] == "768Mi" and quota.spec.hard[f"requests.{GPU}"] == "0"
    await until(lambda: _quota_used(core, ns_a, "2"))  # the API server counts what runs against it
    # Default deny, and the db admits only the service's own api pods on its port.
    policies = {p.metadata.name: p for p in (await asyncio.to_thread(net.list_namespaced_network_policy, ns_b)).items}
    assert set(policies) == {tenancy.DEFAULT_DENY, db.id}
    assert policies[tenancy.DEFAULT_DENY].spec.pod_selector.match_labels is None
    rule = policies[db.id].spec.ingress[0]
    assert rule.ports[0].port == 5432
    assert rule._from[0].pod_selector.match_expressions[0].values == ["api"]
    assert rule._from[0].namespace_selector is None  # pods of this namespace only: not another tenant's
    # The api is published: its own policy admits any source on 8080, as its NodePort does.
    published = await asyncio.to_thread(net.read_namespaced_network_policy, api.id, ns_a)
    assert published.spec.ingress[0]._from is None and published.spec.ingress[0].ports[0].port == 8080

    # Removing one tenant's last workload deletes its namespace, never the other's.
    await wdm.remove("op-a-rm", "iso", api.id)
    await wdm.remove("op-a-rm", "iso", api.id)  # idempotent
    await until(lambda: namespace_gone(core, ns_a))
    assert (await wdm.status("iso", db.id)).ready
    await wdm.remove("op-b-rm", "iso", db.id)
    await until(lambda: namespace_gone(core, ns_b))


async def _quota_used(core: client.CoreV1Api, ns: str, pods: str) -> bool:
    q = await asyncio.to_thread(core.read_namespaced_resource_quota, tenancy.QUOTA, ns)
    return (q.status.used or {}).get("pods") == pods


async def test_a_service_beyond_its_quota_is_refused_with_the_api_servers_reason(kwok):
    wdm = wdm_with(kwok)
    apps, core, _ = await apis(kwok)
    w = spec("svc-q", "alpha", "api", cpu=1)
    await wdm.deploy("op-q", "iso", w)
    await until(lambda: ready(wdm, w.id))
    ns = tenancy.service_namespace("svc-q")
    # Someone with access to the namespace asks for more than placement granted (1 replica + 1 surge).
    await asyncio.to_thread(apps.patch_namespaced_deployment_scale, w.id, ns, {"spec": {"replicas": 4}})
    status = await until(lambda: _refused(wdm, w.id))
    assert "exceeded quota" in status.refused and tenancy.QUOTA in status.refused, status.refused
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "intruder"},
           "spec": {"containers": [{"name": "c", "image": "x",
                                    "resources": {"limits": {"cpu": "4", "memory": "64Mi"}}}]}}  # fmt: skip
    with pytest.raises(ApiException) as refused:
        await asyncio.to_thread(core.create_namespaced_pod, ns, pod)
    assert refused.value.status == 403 and "exceeded quota" in refused.value.body
    # Legato's own scale raises the grant first, so what it asks is admitted.
    await wdm.scale("op-q-scale", "iso", w.id, 4)
    final = await until(lambda: ready(wdm, w.id))
    assert final.ready_replicas == 4 and final.refused is None
    await wdm.remove("op-q-rm", "iso", w.id)
    await until(lambda: namespace_gone(core, ns))


async def _refused(wdm: KubernetesWDM, workload_id: str):
    status = await wdm.status("iso", workload_id)
    return status if status is not None and status.refused else None


async def test_hardware_is_requested_and_lands_only_on_nodes_that_have_it(kwok):
    wdm = wdm_with(kwok)
    _, core, _ = await apis(kwok)
    node = await asyncio.to_thread(core.read_node, "iso-h2")
    assert node.status.allocatable[SRIOV] == "4" and node.status.allocatable[HUGEPAGES] == "8Gi"
    assert (await asyncio.to_thread(core.read_node, "iso-h3")).status.allocatable[GPU] == "1"
    assert SRIOV not in (await asyncio.to_thread(core.read_node, "iso-h1")).status.allocatable

    upf = spec("svc-h", "alpha", "upf", replicas=2, cpu=2, memory_mb=2048, features=["dpdk", "hugepages", "sriov"])
    gpu = spec("svc-h", "alpha", "infer", cpu=1, memory_mb=1024, gpu=1, features=["gpu-t4"])
    await wdm.deploy("op-upf", "iso", upf)
    await wdm.deploy("op-gpu", "iso", gpu)
    await until(lambda: ready(wdm, upf.id))
    await until(lambda: ready(wdm, gpu.id))
    ns = tenancy.service_namespace("svc-h")
    upf_pods = await pods_of(core, ns, upf.id)
    assert {p.spec.node_name for p in upf_pods} == {"iso-h2"}
    requests = upf_pods[0].spec.containers[0].resources.requests
    assert requests == {"cpu": "2", "memory": "256Mi", SRIOV: "1", HUGEPAGES: "2Gi"}
    assert upf_pods[0].spec.containers[0].resources.limits == requests
    assert upf_pods[0].status.qos_class == "Guaranteed"  # whole CPUs, requests = limits: pinnable
    assert '"sriov-net"' in upf_pods[0].metadata.annotations[NETWORKS]
    assert {p.spec.node_name for p in await pods_of(core, ns, gpu.id)} == {"iso-h3"}

    # iso-h2's 4 VFs and 4 CPUs are taken: kube-scheduler refuses another SR-IOV replica (placement
    # would have refused it first, counting the CPUs: see tests/real/test_secret_refs_end_to_end.py).
    more = spec("svc-h", "alpha", "upf2", cpu=1, memory_mb=1024, features=["sriov"])
    await wdm.deploy("op-upf2", "iso", more)
    pending = await until(lambda: _unschedulable(core, ns, more.id))
    assert "Insufficient" in pending, pending
    for w in (upf, gpu, more):
        await wdm.remove(f"op-rm-{w.id}", "iso", w.id)
    await until(lambda: namespace_gone(core, ns))


async def _unschedulable(core: client.CoreV1Api, ns: str, workload_id: str) -> str | None:
    for p in await pods_of(core, ns, workload_id):
        for c in (p.status.conditions or []) if p.status else []:
            if c.type == "PodScheduled" and c.status == "False" and c.message:
                return c.message
    return None


async def test_endpoints_are_what_users_reach_every_port(kwok):
    _, core, _ = await apis(kwok)
    node_port = wdm_with(kwok, Publication(via="node-port", address="203.0.113.7"))
    w = spec("svc-e", "alpha", "web", ports=[8080, 8443], published=True)
    status = await node_port.deploy("op-e", "iso", w)
    ns = tenancy.service_namespace("svc-e")
    svc = await asyncio.to_thread(core.read_namespaced_service, w.id, ns)
    assert svc.spec.type == "NodePort"
    assert status.endpoint == ",".join(f"203.0.113.7:{p.node_port}" for p in svc.spec.ports)
    inner = spec("svc-e", "alpha", "cache", ports=[6379])  # unpublished: cluster-internal only
    assert (await node_port.deploy("op-e2", "iso", inner)).endpoint.endswith(":6379")

    # A load balancer's address appears once the cluster's controller assigns it (done here by hand:
    # kwok runs none).
    lb = wdm_with(kwok, Publication(via="load-balancer"))
    assert (await lb.deploy("op-e", "iso", w)).endpoint is None
    body = {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.20"}]}}}
    await asyncio.to_thread(core.patch_namespaced_service_status, w.id, ns, body)
    assert (await lb.status("iso", w.id)).endpoint == "198.51.100.20:8080,198.51.100.20:8443"

    # A Gateway API route per port, each its own hostname on the site's Gateway.
    gw = wdm_with(kwok, Publication(via="gateway", gateway="gateways/edge", hostname="apps.example"))
    with pytest.raises(InvalidRequest, match="no Gateway API"):
        await gw.deploy("op-e", "iso", w)
    await _install_httproute_crd(kwok)
    status = await until(lambda: _deployed(gw, w))
    assert status.endpoint == "web-8080.svc-e.apps.example:80,web-8443.svc-e.apps.example:80"
    for x in (w, inner):
        await gw.remove(f"op-rm-{x.id}", "iso", x.id)
    await until(lambda: namespace_gone(core, ns))


async def _deployed(wdm: KubernetesWDM, w: WorkloadSpec):
    try:
        return await wdm.deploy("op-e", "iso", w)
    except InvalidRequest:
        return None  # the CRD is not served yet


async def _install_httproute_crd(kwok: KwokMCM) -> None:
    """A minimal HTTPRoute CRD (the schema left open): what the Gateway API's CRDs would serve."""
    ext = client.ApiextensionsV1Api(await kwok.api_client("iso"))
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "httproutes.gateway.networking.k8s.io",  # as the Gateway API's own CRDs say:
                        "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/891"}},
           "spec": {"group": "gateway.networking.k8s.io", "scope": "Namespaced",
                    "names": {"plural": "httproutes", "singular": "httproute", "kind": "HTTPRoute"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}  # fmt: skip
    await asyncio.to_thread(ext.create_custom_resource_definition, crd)


async def test_secret_refs_resolve_in_the_target_cluster_only_from_the_tenants_own_secrets(kwok):
    wdm = wdm_with(kwok)
    apps, core, _ = await apis(kwok)
    source = tenancy.tenant_secrets_namespace("alpha")
    await asyncio.to_thread(core.create_namespace, {"metadata": {"name": source}})
    await asyncio.to_thread(core.create_namespaced_secret, source, {
        "metadata": {"name": "db-creds"}, "stringData": {"password": MARKER}})  # fmt: skip
    ref = {"DB_PASSWORD": SecretRef(kubernetes="db-creds", key="password")}
    w = spec("svc-s", "alpha", "api", env={"LOG_LEVEL": "info"}, secret_env=ref)
    await wdm.deploy("op-s", "iso", w)
    await until(lambda: ready(wdm, w.id))
    ns = tenancy.service_namespace("svc-s")
    secret = await asyncio.to_thread(core.read_namespaced_secret, secret_name(w.id), ns)
    assert base64.b64decode(secret.data["DB_PASSWORD"]).decode() == MARKER
    d = await asyncio.to_thread(apps.read_namespaced_deployment, w.id, ns)
    env = {e.name: e for e in d.spec.template.spec.containers[0].env}
    assert env["LOG_LEVEL"].value == "info" and env["DB_PASSWORD"].value is None
    assert env["DB_PASSWORD"].value_from.secret_key_ref.name == secret_name(w.id)
    assert MARKER not in str(d.to_dict())

    # Another tenant naming the same Secret reads its own secrets namespace: nothing there.
    other = spec("svc-t", "beta", "api", secret_env=ref)
    with pytest.raises(InvalidRequest) as err:
        await wdm.deploy("op-t", "iso", other)
    assert "db-creds" in str(err.value) and "legato-secrets-beta" in str(err.value) and MARKER not in str(err.value)
    missing = spec("svc-s", "alpha", "api2", secret_env={"X": SecretRef(kubernetes="db-creds", key="nope")})
    with pytest.raises(InvalidRequest, match="no key 'nope'"):
        await wdm.deploy("op-s2", "iso", missing)
    assert await namespace_gone(core, tenancy.service_namespace("svc-t"))  # refused before anything was made
    for wid in (w.id, missing.id):
        await wdm.remove(f"op-rm-{wid}", "iso", wid)
    await until(lambda: namespace_gone(core, ns))
    # The tenant's own secrets namespace is not Legato's: left as it was.
    assert (await asyncio.to_thread(core.read_namespaced_secret, "db-creds", source)).data["password"]
