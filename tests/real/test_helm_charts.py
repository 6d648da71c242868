"""Chart components on the test bed, through DeployService and the day-2 operations, over the HTTP
API and Temporal: two sites whose shared clusters are real control planes with kwok nodes, the
charts served by a chart repository (helm_charts.py), installed by the real helm.

A chart is installed as one release, ready once everything it created is; scaled through its
values; upgraded to a new chart version; upgraded to a version whose pods never become ready and
rolled back by helm to the revision that served (which served all along); moved to the other
cluster make-before-break; removed with nothing left. New values on day 2 (and values whose pods
never become ready, rolled back); a canary passing its gate and one failing it; a DaemonSet sized
per node and a Job waited for (the test bed's node-agent chart). The mixed example (a chart and
images, linked) runs end to end. The worker runs here with cluster-wide Secret lists forbidden."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from legato.adapters.wdm.helm import decode_release, release_name
from legato.config import PROJECT_ROOT
from tests.e2e.calls import active, operate
from tests.real.helm_charts import NEVER_READY, ChartRepository
from tests.real.testbed import delete_every_cluster
from tests.real.waiting import until
from tests.stack import running_stack

SITES = {"ch-a": ("cha-k8s", ["cha-h1", "cha-h2"]), "ch-b": ("chb-k8s", ["chb-h1", "chb-h2"])}
RELEASE_NAME = "meta.helm.sh/release-name"
ALL_SECRETS = client.CoreV1Api.list_secret_for_all_namespaces  # the tests' own reads; Legato's are forbidden


def forbidden(*args, **kwargs):
    """What a kubeconfig cluster answers credentials allowed Secrets only in Legato's namespaces."""
    raise ApiException(status=403, reason="Forbidden: secrets is forbidden at the cluster scope")


def topology() -> dict:
    backend = {"pim": "sim", "mcm": "kwok", "wdm": "kubernetes"}
    sites = [{"id": sid, "tier": "edge", "provider": "orange-fr", "region": "eu-west", "country": "FR",
              "lat": 45.7 + i / 10, "lon": 4.8, "cost_per_vcpu_hour": 0.05, "backend": backend,
              "clusters": [{"id": cluster, "hosts": hosts}],
              "hosts": [{"id": h, "cpu": 8, "memory_mb": 16384} for h in hosts]}
             for i, (sid, (cluster, hosts)) in enumerate(SITES.items())]  # fmt: skip
    return {"areas": [{"id": "lyon", "region": "eu-west", "lat": 45.76, "lon": 4.84}], "sites": sites}


@pytest.fixture(scope="module")
async def charts(kube_bin, tmp_path_factory):
    with ChartRepository(kube_bin / "helm", tmp_path_factory.mktemp("charts")) as repo:
        yield repo


@pytest.fixture(scope="module")
async def bed(kube_bin, charts, temporal_server, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("LEGATO_HELM_BIN", str(kube_bin / "helm"))
    # Legato never lists Secrets cluster-wide (a release's records are read in its service's namespace):
    # the worker runs in this process, so every such call it made would fail its operation.
    monkeypatch_module.setattr(client.CoreV1Api, "list_secret_for_all_namespaces", forbidden)
    work = tmp_path_factory.mktemp("helm-bed")
    path = work / "topology.yaml"
    path.write_text(yaml.safe_dump(topology()))
    try:
        async with running_stack(work / "legato", temporal_server.address, topology=path,
                                 testbed_bin=kube_bin) as stack:
            stack.charts = charts
            yield stack
            await delete_every_cluster(stack.adapters.mcm.backends.of("ch-a"))
    finally:  # a control plane that started while another did not (a slow machine) is stopped too
        for cluster in (work / "legato" / "kwok" / "clusters").glob("*"):
            subprocess.run([str(kube_bin / "kwokctl"), f"--name={cluster.name}", "delete", "cluster"],
                           env={**os.environ, "KWOK_WORKDIR": str(work / "legato" / "kwok")},
                           capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def upf_service(repo_url: str, name: str = "core-up") -> dict:
    return {"name": name, "components": [{
        "name": "upf", "version": "1.0.0", "replicas": 2, "cpu": 0.5, "memory_mb": 256, "ports": [2152],
        "chart": {"ref": repo_url, "name": "upf", "version_path": "image.tag", "values": {"config": {"mtu": 1450}}},
        "placement": {"sites": ["ch-a"]}}], "progress_deadline_seconds": 120}  # fmt: skip


async def apis(stack, cluster_id: str):
    api = await stack.adapters.mcm.api_client(cluster_id)
    return client.AppsV1Api(api), client.CoreV1Api(api), client.PolicyV1Api(api)


async def revisions(stack, cluster_id: str, workload_id: str) -> list:
    _, core, _ = await apis(stack, cluster_id)
    found = await asyncio.to_thread(ALL_SECRETS, core,
                                    label_selector=f"owner=helm,name={release_name(workload_id)}")
    return sorted((decode_release(s) for s in found.items), key=lambda r: r.revision)


async def release_objects(stack, cluster_id: str, workload_id: str) -> list[str]:
    """Every object on the cluster that Helm made for this release (its annotation), and its pods."""
    apps, core, policy = await apis(stack, cluster_id)
    name = release_name(workload_id)
    found = []
    for lister in (apps.list_deployment_for_all_namespaces, core.list_service_for_all_namespaces,
                   core.list_config_map_for_all_namespaces, policy.list_pod_disruption_budget_for_all_namespaces):
        for o in (await asyncio.to_thread(lister)).items:
            if (o.metadata.annotations or {}).get(RELEASE_NAME) == name:
                found.append(f"{type(o).__name__.removeprefix('V1')}/{o.metadata.name}")
    pods = await asyncio.to_thread(core.list_pod_for_all_namespaces,
                                   label_selector=f"app.kubernetes.io/instance={name}")
    found += [f"Pod/{p.metadata.name}" for p in pods.items]
    return sorted(found)


async def dataplane(stack, cluster_id: str, workload_id: str) -> client.V1Deployment:
    apps, _, _ = await apis(stack, cluster_id)
    rev = (await revisions(stack, cluster_id, workload_id))[-1]
    return await asyncio.to_thread(apps.read_namespaced_deployment, f"{release_name(workload_id)}-dataplane",
                                   rev.namespace)


async def ready_pod_versions(stack, cluster_id: str, workload_id: str) -> dict[str, int]:
    """Ready data-plane pods per chart version (the `helm.sh/chart` label)."""
    _, core, _ = await apis(stack, cluster_id)
    sel = f"app.kubernetes.io/instance={release_name(workload_id)},app.kubernetes.io/component=dataplane"
    counts: dict[str, int] = {}
    for p in (await asyncio.to_thread(core.list_pod_for_all_namespaces, label_selector=sel)).items:
        ready = any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
        if ready and p.metadata.deletion_timestamp is None:
            v = p.metadata.labels["helm.sh/chart"].removeprefix("upf-")
            counts[v] = counts.get(v, 0) + 1
    return counts


async def component(stack, service_id: str, name: str) -> dict:
    async with stack.http() as http:
        return {c["name"]: c for c in (await http.get(f"/v1/services/{service_id}")).json()["components"]}[name]


class Sampler:
    """Samples ready data-plane pods per version while an operation runs."""

    def __init__(self, stack, cluster_id: str, workload_id: str) -> None:
        self.args, self.samples = (stack, cluster_id, workload_id), []

    async def __aenter__(self):
        async def run():
            while True:
                self.samples.append(await ready_pod_versions(*self.args))
                await asyncio.sleep(0.1)
        self.task = asyncio.create_task(run())
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()


async def test_a_chart_component_through_its_whole_life(bed):
    service_id = await active(bed, upf_service(bed.charts.url))
    upf = await component(bed, service_id, "upf")
    cluster, wid = upf["cluster"], upf["workload_id"]
    assert (upf["site"], cluster) == ("ch-a", "cha-k8s")

    # Installed as one release, named from the workload id, ready: everything the chart makes is there.
    history = await revisions(bed, cluster, wid)
    assert [(r.revision, r.status, r.version) for r in history] == [(1, "deployed", "1.0.0")]
    assert history[0].config == {"config": {"mtu": 1450}, "replicaCount": 2, "image": {"tag": "1.0.0"}}
    objects = await release_objects(bed, cluster, wid)
    name = release_name(wid)
    for expected in (f"{name}-dataplane", f"{name}-agent", f"{name}-config", f"{name}-n3", f"{name}-n4", f"{name}-n6"):
        assert any(o.endswith(f"/{expected}") for o in objects), (expected, objects)
    assert sum(o.startswith("PodDisruptionBudget/") for o in objects) == 1
    assert (await dataplane(bed, cluster, wid)).status.available_replicas == 2
    _, core, _ = await apis(bed, cluster)
    n3 = await asyncio.to_thread(core.read_namespaced_service, f"{name}-n3", history[0].namespace)
    assert upf["endpoint"] and upf["endpoint"].endswith(":2152")  # the N3 interface: what users reach
    assert n3.spec.ports[0].port == 2152

    # The workload's network policy selects the release's pods (Helm's instance label), every one of them.
    policy = await asyncio.to_thread(client.NetworkingV1Api(core.api_client).read_namespaced_network_policy,
                                     wid, history[0].namespace)
    selector = ",".join(f"{k}={v}" for k, v in policy.spec.pod_selector.match_labels.items())
    selected = await asyncio.to_thread(core.list_namespaced_pod, history[0].namespace, label_selector=selector)
    release_pods = [o for o in objects if o.startswith("Pod/")]
    assert release_pods and sorted(f"Pod/{p.metadata.name}" for p in selected.items) == release_pods

    # Scaled through the chart's values: a new revision.
    record = await operate(bed, service_id, "components/upf/scale", {"replicas": 3})
    assert record["state"] == "succeeded", record
    assert (await dataplane(bed, cluster, wid)).status.available_replicas == 3
    assert (await revisions(bed, cluster, wid))[-1].config["replicaCount"] == 3

    # Upgraded to a new chart version; the data plane keeps its three ready replicas all along.
    async with Sampler(bed, cluster, wid) as sampled:
        record = await operate(bed, service_id, "components/upf/upgrade", {"version": "1.1.0"})
    assert record["state"] == "succeeded", record
    assert await ready_pod_versions(bed, cluster, wid) == {"1.1.0": 3}
    assert min(sum(s.values()) for s in sampled.samples) >= 3, sampled.samples
    history = await revisions(bed, cluster, wid)
    assert (history[-1].revision, history[-1].version, history[-1].config["image"]) == (3, "1.1.0", {"tag": "1.1.0"})

    # A version whose pods never become ready: rolled back by helm to revision 3 at the deadline, and
    # revision 3's pods served all along.
    async with Sampler(bed, cluster, wid) as sampled:
        record = await operate(bed, service_id, "components/upf/upgrade",
                               {"version": NEVER_READY, "progress_deadline_seconds": 8})
    assert record["state"] == "failed" and "rolled back" in record["detail"], record
    history = await revisions(bed, cluster, wid)
    assert [(r.revision, r.version) for r in history[-2:]] == [(4, NEVER_READY), (5, "1.1.0")]
    assert history[-1].description == "Rollback to 3" and history[-1].status == "deployed"
    assert all(s.get("1.1.0", 0) >= 3 for s in sampled.samples), sampled.samples
    await until(lambda: _only(bed, cluster, wid, {"1.1.0": 3}))
    assert (await component(bed, service_id, "upf"))["version"] == "1.1.0"

    # New values, the same chart version: a new revision with them (merged over the chart's), the replicas
    # kept, the data plane rolled (its ConfigMap's checksum) with three ready pods all along.
    async with Sampler(bed, cluster, wid) as sampled:
        record = await operate(bed, service_id, "components/upf/upgrade",
                               {"version": "1.1.0", "values": {"config": {"mtu": 9000}}})
    assert record["state"] == "succeeded", record
    history = await revisions(bed, cluster, wid)
    assert (history[-1].revision, history[-1].version) == (6, "1.1.0")
    assert history[-1].config == {"config": {"mtu": 9000}, "replicaCount": 3, "image": {"tag": "1.1.0"}}
    assert min(sum(s.values()) for s in sampled.samples) >= 3, sampled.samples
    config = await asyncio.to_thread(core.read_namespaced_config_map, f"{name}-config", history[-1].namespace)
    assert "9000" in str(config.data), config.data

    # New values whose pods never become ready (a node selector no node matches): rolled back by helm to
    # revision 6, its values and pods serving all along.
    async with Sampler(bed, cluster, wid) as sampled:
        record = await operate(bed, service_id, "components/upf/upgrade",
                               {"version": "1.1.0", "values": {"nodeSelector": {"example.com/no-such-node": "true"}},
                                "progress_deadline_seconds": 8})
    assert record["state"] == "failed" and "rolled back" in record["detail"], record
    history = await revisions(bed, cluster, wid)
    assert [(r.revision, r.description) for r in history[-1:]] == [(8, "Rollback to 6")]
    assert history[-2].config["nodeSelector"] and history[-1].config == history[-3].config
    assert all(s.get("1.1.0", 0) >= 3 for s in sampled.samples), sampled.samples
    await until(lambda: _only(bed, cluster, wid, {"1.1.0": 3}))

    # Moved to the other site's cluster, make-before-break: installed there and ready, then uninstalled here.
    ready: list[int] = []

    async def serving():
        while True:
            ready.append(sum(w.ready_replicas for w in await bed.adapters.wdm.list_workloads()
                             if w.service_id == service_id and w.component == "upf"))
            await asyncio.sleep(0.1)
    watcher = asyncio.create_task(serving())
    record = await operate(bed, service_id, "components/upf/move", {"site": "ch-b"})
    watcher.cancel()
    assert record["state"] == "succeeded", record
    assert ready and min(ready) >= 3, ready  # the source served until the target was ready
    moved = await component(bed, service_id, "upf")
    assert (moved["site"], moved["cluster"]) == ("ch-b", "chb-k8s")
    assert [r.version for r in await revisions(bed, "chb-k8s", moved["workload_id"])] == ["1.1.0"]
    assert await revisions(bed, cluster, wid) == []
    await until(lambda: _gone(bed, cluster, wid))

    # Removed: no release, no object, no pod anywhere.
    await bed.remove(service_id)
    assert await revisions(bed, "chb-k8s", moved["workload_id"]) == []
    await until(lambda: _gone(bed, "chb-k8s", moved["workload_id"]))


async def _only(stack, cluster, wid, versions) -> bool:
    return await ready_pod_versions(stack, cluster, wid) == versions


async def _gone(stack, cluster, wid) -> bool:
    return await release_objects(stack, cluster, wid) == []


async def test_the_mixed_example_end_to_end(bed):
    """deploy/examples/private-5g.yaml (the upf chart, two image components, links), placed on the
    test bed's two sites and pointed at its chart repository."""
    spec = yaml.safe_load((PROJECT_ROOT / "deploy" / "examples" / "private-5g.yaml").read_text())
    spec["user_areas"] = []
    for i, comp in enumerate(spec["components"]):
        comp["placement"] = {"sites": ["ch-a" if i % 2 == 0 else "ch-b"]}
        comp.pop("features", None)
        if "chart" in comp:
            comp["chart"]["ref"] = bed.charts.url
    service_id = await active(bed, spec)
    async with bed.http() as http:
        svc = (await http.get(f"/v1/services/{service_id}")).json()
    comps = {c["name"]: c for c in svc["components"]}
    chart = next(c["name"] for c in spec["components"] if "chart" in c)
    assert all(c["endpoint"] for c in comps.values()), comps
    history = await revisions(bed, comps[chart]["cluster"], comps[chart]["workload_id"])
    assert [(r.revision, r.status) for r in history] == [(1, "deployed")]
    await bed.remove(service_id)
    for c in comps.values():
        await until(lambda c=c: _gone(bed, c["cluster"], c["workload_id"]))


async def canary_pods(stack, namespace: str, main_release: str) -> list[client.V1Pod]:
    """The pods of the service's other releases than the main one: its canary's."""
    _, core, _ = await apis(stack, "cha-k8s")
    pods = await asyncio.to_thread(core.list_namespaced_pod, namespace, label_selector="app.kubernetes.io/instance")
    return [p for p in pods.items if p.metadata.labels["app.kubernetes.io/instance"] != main_release]


async def test_a_charts_canary_passes_its_gate_then_one_failing_it_is_rolled_back(bed):
    """A canary is a second release of the new chart version. On Kubernetes its gate reads the share
    of the canary's pods not ready or restarted (no metrics pipeline): the failing canary's pods are
    reported restarted, as a kubelet reports a crashing container, by patching their status."""
    spec = upf_service(bed.charts.url, name="core-canary")
    service_id = await active(bed, spec)
    upf = await component(bed, service_id, "upf")
    cluster, wid = upf["cluster"], upf["workload_id"]
    namespace = (await revisions(bed, cluster, wid))[0].namespace
    seen: set[str] = set()

    async def watch():
        while True:
            seen.update(p.metadata.labels["app.kubernetes.io/instance"]
                        for p in await canary_pods(bed, namespace, release_name(wid)))
            await asyncio.sleep(0.2)
    watcher = asyncio.create_task(watch())
    canary = {"replicas": 1, "max_error_rate": 0.05, "observe_seconds": 2}
    record = await operate(bed, service_id, "components/upf/upgrade",
                           {"version": "1.1.0", "strategy": "canary", "canary": canary})
    watcher.cancel()
    assert record["state"] == "succeeded", record
    assert seen, "no canary release was seen"  # a second release ran beside the main one
    await until(lambda: _only(bed, cluster, wid, {"1.1.0": 2}))
    assert [r.version for r in await revisions(bed, cluster, wid)][-1] == "1.1.0"
    await until(lambda: _no_canary(bed, namespace, release_name(wid)))  # uninstalled after the rollout

    _, core, _ = await apis(bed, cluster)

    async def crash():
        """Every canary pod, once running, reported restarted three times."""
        done: set[str] = set()
        while True:
            for p in await canary_pods(bed, namespace, release_name(wid)):
                if p.metadata.name in done or not p.status.container_statuses:
                    continue
                body = {"status": {"containerStatuses": [{"name": c.name, "restartCount": 3}
                                                         for c in p.status.container_statuses]}}
                await asyncio.to_thread(core.patch_namespaced_pod_status, p.metadata.name, namespace, body)
                done.add(p.metadata.name)
            await asyncio.sleep(0.2)
    crasher = asyncio.create_task(crash())
    async with Sampler(bed, cluster, wid) as sampled:
        record = await operate(bed, service_id, "components/upf/upgrade",
                               {"version": "1.0.0", "strategy": "canary",
                                "canary": {**canary, "observe_seconds": 4}})
    crasher.cancel()
    assert record["state"] == "rolled-back" and "failed its health gate" in record["detail"], record
    assert all(s.get("1.1.0", 0) >= 2 for s in sampled.samples), sampled.samples  # the main never changed
    assert [r.version for r in await revisions(bed, cluster, wid)][-1] == "1.1.0"
    await until(lambda: _no_canary(bed, namespace, release_name(wid)))
    assert (await component(bed, service_id, "upf"))["version"] == "1.1.0"
    await bed.remove(service_id)


async def _no_canary(stack, namespace: str, main_release: str) -> bool:
    _, core, _ = await apis(stack, "cha-k8s")
    left = await asyncio.to_thread(ALL_SECRETS, core, label_selector="owner=helm")
    return not await canary_pods(stack, namespace, main_release) and all(
        s.metadata.labels.get("name") == main_release for s in left.items if s.metadata.namespace == namespace)


async def test_a_charts_daemonset_is_sized_per_node_and_its_job_waited_for(bed):
    """The test bed's node-agent chart: a DaemonSet (a pod on each of the cluster's two nodes) and a
    Job. The namespace's quota admits all three pods at once, and the release is ready only once
    the Job completed."""
    spec = {"name": "agents", "progress_deadline_seconds": 60, "components": [{
        "name": "agent", "version": "1.0.0", "replicas": 1, "cpu": 0.1, "memory_mb": 64,
        "chart": {"ref": bed.charts.url, "name": "node-agent"}, "placement": {"sites": ["ch-a"]}}]}  # fmt: skip
    service_id = await active(bed, spec)
    agent = await component(bed, service_id, "agent")
    cluster, wid = agent["cluster"], agent["workload_id"]
    namespace = (await revisions(bed, cluster, wid))[0].namespace
    apps, core, _ = await apis(bed, cluster)
    name = release_name(wid)
    ds = await asyncio.to_thread(apps.read_namespaced_daemon_set, f"{name}-agent", namespace)
    assert (ds.status.desired_number_scheduled, ds.status.number_available) == (2, 2)
    job = await asyncio.to_thread(client.BatchV1Api(core.api_client).read_namespaced_job, f"{name}-setup-r1",
                                  namespace)
    assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or []), job.status
    quota = await asyncio.to_thread(core.read_namespaced_resource_quota, "legato-grant", namespace)
    assert int(quota.spec.hard["pods"]) >= 3, quota.spec.hard  # two nodes' agents and the Job's pod
    assert (await bed.adapters.wdm.status(cluster, wid)).ready
    await bed.remove(service_id)
    await until(lambda: _gone(bed, cluster, wid))
