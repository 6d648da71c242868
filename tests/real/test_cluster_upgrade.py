"""UpgradeCluster on a real control plane (kwok), through the HTTP API and Temporal: a shared
cluster on the test bed's v1.34.4 moves to v1.35.4 (scripts/testbed.d/kube-next.sh) while two
services run on it. Continuity is judged from a pod watch's whole history (pod_history.py, which
watches on from where it was across the API server's restart): every service keeps its requested
ready replicas at every instant. The new version is read from the cluster itself: its `/version`
and each node's kubelet."""

from __future__ import annotations

import asyncio

import pytest
import yaml
from kubernetes import client

from legato.model.versions import parse
from tests.e2e.calls import active
from tests.real.pod_history import PodHistory
from tests.real.testbed import delete_every_cluster
from tests.stack import running_stack

SITE = "up-site"
CLUSTER = "up-k8s"
NODES = ["up-h1", "up-h2", "up-h3"]
SERVICE = "legato.io/service"
OLD, NEW = "v1.34.4", "v1.35.4"


def topology() -> dict:
    site = {"id": SITE, "tier": "regional", "provider": "orange-fr", "region": "eu-west", "country": "FR",
            "lat": 45.73, "lon": 4.83, "cost_per_vcpu_hour": 0.05, "backend": {"mcm": "kwok", "wdm": "kubernetes"},
            "clusters": [{"id": CLUSTER, "hosts": NODES}],
            "hosts": [{"id": h, "cpu": 4, "memory_mb": 8192} for h in NODES]}  # fmt: skip
    return {"areas": [{"id": "lyon", "region": "eu-west", "lat": 45.76, "lon": 4.84}], "sites": [site]}


def on_site(name: str, replicas: int, cpu: float) -> dict:
    return {"name": name, "components": [{
        "name": "work", "image": f"registry.example/{name}", "version": "1.0", "replicas": replicas, "cpu": cpu,
        "memory_mb": 256, "placement": {"sites": [SITE]}}]}


@pytest.fixture(scope="module")
async def stack(kube_bin, temporal_server, tmp_path_factory):
    if not (kube_bin / f"kube-{NEW}" / "kube-apiserver").exists():
        pytest.fail(f"the test bed has no {NEW} control plane: run scripts/testbed.sh (testbed.d/kube-next.sh)")
    work = tmp_path_factory.mktemp("upgrade-kwok")
    path = work / "topology.yaml"
    path.write_text(yaml.safe_dump(topology()))
    async with running_stack(work / "legato", temporal_server.address, topology=path, testbed_bin=kube_bin) as s:
        s.kwok = s.adapters.mcm.backends.of(SITE)
        yield s
        await delete_every_cluster(s.kwok)


async def reported(stack) -> tuple[str, dict[str, str]]:
    """What the cluster itself says: its API server's /version, each node's kubelet."""
    api = await stack.kwok.api_client(CLUSTER)
    version = await asyncio.to_thread(lambda: client.VersionApi(api).get_code().git_version)
    nodes = await asyncio.to_thread(client.CoreV1Api(api).list_node)
    return version, {n.metadata.name: n.status.node_info.kubelet_version for n in nodes.items}


async def upgrade(stack, version: str, wait: float = 0):
    async with stack.http("operator") as http:
        return await http.post(f"/v1/clusters/{CLUSTER}/upgrade", json={"version": version}, params={"wait": wait},
                               timeout=wait + 180)


async def test_a_kwok_cluster_moves_one_minor_up_while_its_services_keep_serving(stack):
    assert await reported(stack) == (OLD, dict.fromkeys(NODES, OLD))
    # Room for the drain's plan: it counts every restarted Deployment's surge pod at once.
    a = await active(stack, on_site("a", 3, 0.5))
    b = await active(stack, on_site("b", 2, 1))
    core = client.CoreV1Api(await stack.kwok.api_client(CLUSTER))
    with PodHistory(core, None, restarts_allowed=True) as history:
        done = await upgrade(stack, NEW, wait=900)
        assert done.status_code == 200 and done.json()["state"] == "done", done.text
    assert [s["name"] for s in done.json()["steps"]] == ["claim", "check", "control-plane",
                                                         *(f"node {n}" for n in NODES)]
    # Continuity from the whole history: at no instant fewer ready replicas than requested.
    assert history.min_serving({SERVICE: a}) == 3 and history.min_serving({SERVICE: b}) == 2
    assert len(history.pods_seen({SERVICE: a})) > 3  # pods were moved (make-before-break), not left on old nodes
    # (the API server's restart is shown by /version below; the watch may resume without a resync)

    assert await reported(stack) == (NEW, dict.fromkeys(NODES, NEW))
    async with stack.http("operator") as http:
        page = (await http.get("/v1/clusters", params={"site": SITE})).json()
    [shown] = [c for c in page["items"] if c["id"] == CLUSTER]
    assert (shown["kubernetes_version"], shown["node_versions"]) == (NEW, dict.fromkeys(NODES, NEW))

    # Refused before anything changes: a downgrade, and a release the test bed does not carry.
    down = await upgrade(stack, OLD)
    assert down.status_code == 422 and "downgrades are not supported" in down.text, down.text
    major, minor, _ = parse(NEW)
    beyond = await upgrade(stack, f"v{major}.{minor + 1}.0")
    assert beyond.status_code == 422 and "not offered" in beyond.text, beyond.text
    assert (await reported(stack))[0] == NEW
