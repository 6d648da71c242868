"""WDM on Kubernetes: each workload is a Deployment and a Service of the same deterministic name
(the workload id) in namespace `legato`, applied server-side, so a retry changes nothing.

Rollouts are the Deployment controller's (RollingUpdate, maxSurge 1, maxUnavailable 0); readiness
is read from observedGeneration / updatedReplicas / availableReplicas; scaling goes through the
scale subresource. Only objects labelled as Legato's are ever deleted. Credentials come from the
MCM (`KubeClusters`).

Placement stays kube-scheduler's: the nodes placement reserved (`prefer_nodes`) become a
*preferred* node affinity, never a required one, so a drain or a lost node can always move a pod
elsewhere. What each node holds is read back from the pods themselves (`WorkloadStatus.nodes`)."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from legato.adapters.kube import (
    APPLY,
    FIELD_MANAGER,
    MANAGED_BY,
    MERGE,
    NAMESPACE,
    KubeClusters,
    call,
    call_or_none,
)  # fmt: skip
from legato.adapters.wdm.helm import Helm, HelmReleases, Release
from legato.model.workloads import ServingHistory, WorkloadMetrics, WorkloadSpec, WorkloadStatus

FEATURE_LABEL = "feature.legato.io/"
VERSION = "legato.io/version"
WORKLOAD = "legato.io/workload"
GPU = "nvidia.com/gpu"
HOSTNAME = "kubernetes.io/hostname"


def image_ref(image: str, version: str) -> str:
    """`image:version`, unless the image already names a tag or a digest."""
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in image else f"{image}:{version}"


def labels_of(spec: WorkloadSpec) -> dict[str, str]:
    return {**MANAGED_BY, WORKLOAD: spec.id, "legato.io/service": spec.service_id,
            "legato.io/component": spec.component, "legato.io/tenant": spec.tenant}  # fmt: skip


def preferred_affinity(nodes: list[str]) -> dict[str, Any] | None:
    """Kubernetes has no per-replica placement, so the reservation's nodes become one preference
    (weight 100, the most a term can have): kube-scheduler follows it where the nodes have room and
    ignores it where they do not. Sorted and distinct, so the same reservation in another order
    renders the same pod template and starts no rollout."""
    names = sorted(set(nodes))
    if not names:
        return None
    term = {"matchExpressions": [{"key": HOSTNAME, "operator": "In", "values": names}]}
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": term}]}}


def deployment(spec: WorkloadSpec) -> dict[str, Any]:
    resources = {"cpu": f"{spec.cpu:g}", "memory": f"{spec.memory_mb}Mi"} | ({GPU: str(spec.gpu)} if spec.gpu else {})
    container = {
        "name": spec.component, "image": image_ref(spec.image, spec.version),
        "resources": {"requests": resources, "limits": resources},
        "ports": [{"containerPort": p} for p in spec.ports],
        "env": [{"name": k, "value": v} for k, v in sorted(spec.env.items())],
    }  # fmt: skip
    # The spec's own labels need not be valid Kubernetes label keys: kept whole in one annotation.
    annotations = {VERSION: spec.version, "legato.io/labels": json.dumps(spec.labels, sort_keys=True)}
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "nodeSelector": {f"{FEATURE_LABEL}{f}": "true" for f in sorted(spec.features)},
    }
    if (affinity := preferred_affinity(spec.prefer_nodes)) is not None:
        pod_spec["affinity"] = affinity  # left out when empty: the server-side apply then drops an old one
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": spec.id, "namespace": NAMESPACE, "labels": labels_of(spec), "annotations": annotations},
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": {WORKLOAD: spec.id}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels_of(spec), "annotations": {VERSION: spec.version}},
                "spec": pod_spec,
            },
        },
    }  # fmt: skip


def service(spec: WorkloadSpec) -> dict[str, Any]:
    ports = spec.ports or [80]
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": spec.id, "namespace": NAMESPACE, "labels": labels_of(spec)},
        "spec": {"selector": {WORKLOAD: spec.id},
                 "ports": [{"name": f"p{p}", "port": p, "targetPort": p} for p in ports]},
    }  # fmt: skip


def rollout_done(d: client.V1Deployment) -> bool:
    """The controller has seen the latest spec and every replica runs it (no old ones left)."""
    s, want = d.status, d.spec.replicas or 0
    return (
        s is not None
        and (s.observed_generation or 0) >= (d.metadata.generation or 0)
        and (s.updated_replicas or 0) == want
        and (s.replicas or 0) == want
    )


class KubernetesWDM:
    """Workloads on the Kubernetes clusters an MCM (kwok, kubeconfig) gives access to."""

    def __init__(self, clusters: KubeClusters, helm: Helm | None = None) -> None:
        self.clusters = clusters
        self.releases = HelmReleases(helm)  # chart components: one Helm release each (helm.py)

    async def _release(self, cluster_id: str, workload_id: str) -> tuple[client.ApiClient, list[Release]] | None:
        """The workload's Helm release when it is a chart's, with its history; None for a plain one."""
        api = await self.clusters.api_client(cluster_id)
        history = await self.releases.history(cluster_id, api, workload_id)
        return (api, history) if any(r.legato for r in history) else None

    async def _apis(self, cluster_id: str) -> tuple[client.AppsV1Api, client.CoreV1Api]:
        api = await self.clusters.api_client(cluster_id)
        return client.AppsV1Api(api), client.CoreV1Api(api)

    async def deploy(self, op_id: str, cluster_id: str, spec: WorkloadSpec) -> WorkloadStatus:
        apps, core = await self._apis(cluster_id)
        await self._ensure_namespace(cluster_id, core)
        if spec.chart is not None:  # a chart: one Helm release in the namespace (helm.py)
            return await self.releases.deploy(op_id, cluster_id, await self.clusters.api_client(cluster_id),
                                              NAMESPACE, spec)
        opts = {"field_manager": FIELD_MANAGER, "force": True, "_content_type": APPLY}
        await call(cluster_id, lambda: apps.patch_namespaced_deployment(spec.id, NAMESPACE, deployment(spec), **opts))
        await call(cluster_id, lambda: core.patch_namespaced_service(spec.id, NAMESPACE, service(spec), **opts))
        return await self._status(cluster_id, spec.id)  # type: ignore[return-value]

    async def _ensure_namespace(self, cluster_id: str, core: client.CoreV1Api) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": MANAGED_BY}}
        await call(cluster_id, lambda: core.patch_namespace(NAMESPACE, body, field_manager=FIELD_MANAGER,
                                                            force=True, _content_type=APPLY))  # fmt: skip

    async def status(self, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
        if (release := await self._release(cluster_id, workload_id)) is not None:
            return await self.releases.status(cluster_id, release[0], workload_id, release[1])
        return await self._status(cluster_id, workload_id)

    async def _status(self, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
        apps, core = await self._apis(cluster_id)
        d = await call_or_none(cluster_id, lambda: apps.read_namespaced_deployment(workload_id, NAMESPACE))
        if d is None:
            return None
        svc = await call_or_none(cluster_id, lambda: core.read_namespaced_service(workload_id, NAMESPACE))
        pods = await call(cluster_id, lambda: core.list_namespaced_pod(
            NAMESPACE, label_selector=f"{WORKLOAD}={workload_id}"))  # fmt: skip
        return to_status(cluster_id, d, svc, pods.items)

    async def scale(self, op_id: str, cluster_id: str, workload_id: str, replicas: int,
                    prefer_nodes: list[str] | None = None) -> WorkloadStatus:
        """Through the scale subresource. `prefer_nodes` is not applied: a node affinity per added
        replica does not exist, and changing the template's would roll every pod."""
        if (release := await self._release(cluster_id, workload_id)) is not None:  # a chart: its values
            return await self.releases.scale(op_id, cluster_id, release[0], workload_id, replicas)
        apps, _ = await self._apis(cluster_id)
        body = {"spec": {"replicas": replicas}}
        await call(cluster_id, lambda: apps.patch_namespaced_deployment_scale(workload_id, NAMESPACE, body))
        return await self._status(cluster_id, workload_id)  # type: ignore[return-value]

    async def upgrade(self, op_id: str, cluster_id: str, workload_id: str, image: str, version: str) -> WorkloadStatus:
        """A new pod template; the Deployment controller rolls it out (maxUnavailable 0). A chart's
        release goes to chart version `version` (back to the previous revision's: `helm rollback`)."""
        if (release := await self._release(cluster_id, workload_id)) is not None:
            return await self.releases.upgrade(op_id, cluster_id, release[0], workload_id, version)
        apps, _ = await self._apis(cluster_id)
        d = await call(cluster_id, lambda: apps.read_namespaced_deployment(workload_id, NAMESPACE))
        container = d.spec.template.spec.containers[0].name
        patch = {
            "metadata": {"annotations": {VERSION: version}},
            "spec": {"template": {"metadata": {"annotations": {VERSION: version}},
                                  "spec": {"containers": [{"name": container, "image": image_ref(image, version)}]}}},
        }  # fmt: skip
        await call(cluster_id, lambda: apps.patch_namespaced_deployment(workload_id, NAMESPACE, patch,
                                                                        _content_type=MERGE))  # fmt: skip
        return await self._status(cluster_id, workload_id)  # type: ignore[return-value]

    async def remove(self, op_id: str, cluster_id: str, workload_id: str) -> None:
        if (release := await self._release(cluster_id, workload_id)) is not None:  # a chart: helm uninstall first
            await self.releases.remove(cluster_id, release[0], workload_id, release[1])
        """Deletes the Deployment (its ReplicaSets and Pods go with it) and the Service, if Legato's."""
        apps, core = await self._apis(cluster_id)
        for read, delete in (
            (apps.read_namespaced_deployment, apps.delete_namespaced_deployment),
            (core.read_namespaced_service, core.delete_namespaced_service),
        ):
            found = await call_or_none(cluster_id, lambda r=read: r(workload_id, NAMESPACE))
            if found is None or (found.metadata.labels or {}).items() < MANAGED_BY.items():
                continue
            await call_or_none(cluster_id, lambda d=delete: d(workload_id, NAMESPACE,
                                                               propagation_policy="Background"))  # fmt: skip

    async def list_workloads(self, cluster_id: str | None = None) -> list[WorkloadStatus]:
        ids = [cluster_id] if cluster_id else await self.clusters.kube_cluster_ids()
        found: list[WorkloadStatus] = []
        selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
        for cid in ids:
            apps, core = await self._apis(cid)
            ds = await call(cid, lambda a=apps: a.list_namespaced_deployment(NAMESPACE, label_selector=selector))
            svcs = await call(cid, lambda c=core: c.list_namespaced_service(NAMESPACE, label_selector=selector))
            # One pod list for the whole cluster, split by workload: the cost stays one call however many.
            pods = await call(cid, lambda c=core: c.list_namespaced_pod(NAMESPACE, label_selector=WORKLOAD))
            by_workload: dict[str, list[client.V1Pod]] = {}
            for p in pods.items:
                by_workload.setdefault((p.metadata.labels or {}).get(WORKLOAD, ""), []).append(p)
            by_name = {s.metadata.name: s for s in svcs.items}
            for d in ds.items:
                found.append(to_status(cid, d, by_name.get(d.metadata.name), by_workload.get(d.metadata.name, [])))
        for cid in ids:  # and the chart components' releases (helm.py)
            found.extend(await self.releases.statuses(cid, await self.clusters.api_client(cid)))
        return found

    async def serving_history(self, service_id: str, component: str, since: float,
                              until: float) -> ServingHistory | None:
        """The API server keeps no history of pods: an operation's continuity is sampled instead."""
        return None

    async def metrics(self, cluster_id: str, workload_id: str) -> WorkloadMetrics | None:
        """Without a metrics pipeline, the error rate is the share of the workload's pods that are not
        ready or have restarted: what the cluster itself can tell about a bad version."""
        if (release := await self._release(cluster_id, workload_id)) is not None:
            return await self.releases.metrics(cluster_id, release[0], workload_id, release[1])
        apps, core = await self._apis(cluster_id)
        d = await call_or_none(cluster_id, lambda: apps.read_namespaced_deployment(workload_id, NAMESPACE))
        if d is None:
            return None
        pods = (await call(cluster_id, lambda: core.list_namespaced_pod(
            NAMESPACE, label_selector=f"{WORKLOAD}={workload_id}"))).items  # fmt: skip
        bad = sum(1 for p in pods if not pod_healthy(p))
        version = (d.metadata.annotations or {}).get(VERSION, "")
        return WorkloadMetrics(id=workload_id, version=version, error_rate=bad / len(pods) if pods else 0.0)


def pod_ready(pod: client.V1Pod) -> bool:
    return pod.status is not None and any(c.type == "Ready" and c.status == "True"
                                          for c in (pod.status.conditions or []))


def pod_healthy(pod: client.V1Pod) -> bool:
    restarts = sum(c.restart_count for c in (pod.status.container_statuses or []))
    return pod_ready(pod) and restarts == 0


def pod_live(pod: client.V1Pod) -> bool:
    """Bound to a node, not on its way out (a deletion timestamp means its endpoint is already being
    withdrawn), not finished: a replica the node holds, ready or not."""
    return (
        bool(pod.spec.node_name)
        and pod.metadata.deletion_timestamp is None
        and (pod.status is None or pod.status.phase not in ("Succeeded", "Failed"))
    )


def pods_per_node(pods: list[client.V1Pod]) -> dict[str, int]:
    """What each node holds of a workload. Pods not scheduled yet hold no node, so they are not counted."""
    counts: dict[str, int] = {}
    for p in pods:
        if pod_live(p):
            counts[p.spec.node_name] = counts.get(p.spec.node_name, 0) + 1
    return dict(sorted(counts.items()))


def serving_versions(pods: list[client.V1Pod]) -> dict[str, int]:
    """Pods ready and not on their way out, per version: what takes traffic now."""
    counts: dict[str, int] = {}
    for p in pods:
        if pod_ready(p) and pod_live(p):
            version = (p.metadata.annotations or {}).get(VERSION, "")
            counts[version] = counts.get(version, 0) + 1
    return dict(sorted(counts.items()))


def to_status(
    cluster_id: str, d: client.V1Deployment, svc: client.V1Service | None, pods: list[client.V1Pod] | None = None
) -> WorkloadStatus:
    """`ready_replicas` stays below `replicas` until the rollout is done, so `ready` means every
    replica runs the target template and is available (as the sim backend reports it). `serving`
    counts, per version, the pods that take traffic now, and `updated_replicas` those of them on
    the target version: mid-rollout the two differ (two serving, one updated)."""
    want = d.spec.replicas or 0
    available = (d.status.available_replicas or 0) if d.status else 0
    ready = min(available, want if rollout_done(d) else max(0, want - 1))
    labels, annotations = d.metadata.labels or {}, d.metadata.annotations or {}
    serving = serving_versions(pods or [])
    endpoint = None
    if svc is not None and svc.spec.cluster_ip and svc.spec.ports:
        endpoint = f"{svc.spec.cluster_ip}:{svc.spec.ports[0].port}"
    return WorkloadStatus(
        id=d.metadata.name, cluster=cluster_id, component=labels.get("legato.io/component", ""),
        service_id=labels.get("legato.io/service", ""), version=annotations.get(VERSION, ""), replicas=want,
        ready_replicas=ready, endpoint=endpoint, nodes=pods_per_node(pods or []), serving=serving,
        updated_replicas=serving.get(annotations.get(VERSION, ""), 0),
    )  # fmt: skip
