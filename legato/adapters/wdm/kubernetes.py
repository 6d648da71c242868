"""WDM on Kubernetes: each workload is a Deployment and a Service of the same deterministic name
(the workload id) in its service's namespace (`tenancy`), applied server-side, so a retry changes nothing.

Rollouts are the Deployment controller's (RollingUpdate, maxSurge 1, maxUnavailable 0); readiness
is read from observedGeneration / updatedReplicas / availableReplicas; scaling goes through the
scale subresource. Only objects labelled as Legato's are ever deleted. Credentials come from the
MCM (`KubeClusters`).

Placement stays kube-scheduler's: the nodes placement reserved (`prefer_nodes`) become a
*preferred* node affinity, never a required one, so a drain or a lost node can always move a pod
elsewhere. What each node holds is read back from the pods themselves (`WorkloadStatus.nodes`)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from kubernetes import client

from legato.adapters.errors import InvalidRequest, NotFound
from legato.adapters.kube import (
    APPLY,
    FIELD_MANAGER,
    MANAGED_BY,
    MERGE,
    NAMESPACE,
    SELECTOR,
    KubeClusters,
    call,
    call_or_none,
)  # fmt: skip
from legato.adapters.secrets import read_vault
from legato.adapters.wdm import exposure, tenancy
from legato.adapters.wdm.exposure import Publications
from legato.adapters.wdm.hardware import pod_annotations, pod_resources
from legato.adapters.wdm.helm import Helm, HelmReleases, Release
from legato.model.backends import Publication
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


def secret_name(workload_id: str) -> str:
    """The Secret holding a workload's resolved `secret_env`, in its service's namespace."""
    return f"{workload_id}-env"


def deployment(spec: WorkloadSpec, ns: str = NAMESPACE) -> dict[str, Any]:
    """Resources, QoS and network attachments from `hardware`; `secret_env` as references to the
    workload's Secret (the pod template holds no value)."""
    resources = pod_resources(spec.cpu, spec.memory_mb, spec.gpu, spec.features)
    secret_env = [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name(spec.id), "key": k}}}
                  for k in sorted(spec.secret_env)]
    container = {
        "name": spec.component, "image": image_ref(spec.image, spec.version),
        "resources": {"requests": resources, "limits": resources},
        "ports": [{"containerPort": p} for p in spec.ports],
        "env": [{"name": k, "value": v} for k, v in sorted(spec.env.items())] + secret_env,
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
        "metadata": {"name": spec.id, "namespace": ns, "labels": labels_of(spec), "annotations": annotations},
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": {WORKLOAD: spec.id}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels_of(spec),
                             "annotations": {VERSION: spec.version} | pod_annotations(spec.features)},
                "spec": pod_spec,
            },
        },
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

    def __init__(self, clusters: KubeClusters, publications: Publications | None = None,
                 helm: Helm | None = None) -> None:
        self.clusters = clusters
        self.publications = publications or Publications([], clusters)
        self._namespaces: dict[tuple[str, str], str] = {}  # (cluster, workload) -> its namespace, once found
        self._plain: set[tuple[str, str]] = set()  # (cluster, workload) known to be a Deployment, not a release
        self.releases = HelmReleases(helm, self._admit_release)  # chart components: a Helm release each (helm.py)

    async def _admit_release(self, cluster_id: str, api: client.ApiClient, ns: str, workload_id: str,
                             pods: int) -> None:
        """A chart's grant counts the pods its rendered revision runs at once (its fixed workloads and
        each one's surge), each sized as one of the component's replicas."""
        core = client.CoreV1Api(api)
        found = await call_or_none(cluster_id, lambda: core.read_namespaced_resource_quota(tenancy.QUOTA, ns))
        if (grant := tenancy.grants_in(found).get(workload_id)) is not None:
            await tenancy.set_grant(cluster_id, core, ns, workload_id, {**grant, "replicas": max(0, pods - 1)})

    async def _release(self, cluster_id: str, workload_id: str,
                       ns: str | None = None) -> tuple[client.ApiClient, str, list[Release]] | None:
        """The workload's Helm release when it is a chart's, with its namespace and history; None for a
        plain one. Read in the workload's own namespace (Helm keeps a release's records beside it),
        and not at all for a workload known to be a Deployment: no call lists Secrets cluster-wide."""
        if (cluster_id, workload_id) in self._plain:
            return None
        ns = ns or await self._namespace_of(cluster_id, workload_id)
        if ns is None or (cluster_id, workload_id) in self._plain:
            return None
        api = await self.clusters.api_client(cluster_id)
        history = await self.releases.history(cluster_id, api, workload_id, ns)
        return (api, ns, history) if any(r.legato for r in history) else None

    async def _apis(self, cluster_id: str) -> tuple[client.AppsV1Api, client.CoreV1Api]:
        api = await self.clusters.api_client(cluster_id)
        return client.AppsV1Api(api), client.CoreV1Api(api)

    async def deploy(self, op_id: str, cluster_id: str, spec: WorkloadSpec) -> WorkloadStatus:
        """In the service's namespace (`tenancy`): its Secret of resolved `secret_env`, its grant in the
        quota, its network policy, then the Deployment and its published Service (`exposure`)."""
        api = await self.clusters.api_client(cluster_id)
        apps, core, net = client.AppsV1Api(api), client.CoreV1Api(api), client.NetworkingV1Api(api)
        via = await self.publications.of(cluster_id)
        values = await self._resolve_secrets(cluster_id, core, spec)  # first: a bad reference leaves nothing
        ns = await tenancy.ensure_namespace(cluster_id, core, net, spec)
        self._namespaces[(cluster_id, spec.id)] = ns
        if spec.chart is None:
            self._plain.add((cluster_id, spec.id))
        await self._write_secret(cluster_id, core, spec, ns, values)
        await tenancy.set_grant(cluster_id, core, ns, spec.id, tenancy.grant_of(spec))
        await tenancy.apply_policy(cluster_id, net, spec, ns)
        if spec.chart is not None:  # a chart: one Helm release in the namespace (helm.py)
            return await self.releases.deploy(op_id, cluster_id, api, ns, spec)
        opts = {"field_manager": FIELD_MANAGER, "force": True, "_content_type": APPLY}
        await call(cluster_id, lambda: apps.patch_namespaced_deployment(spec.id, ns, deployment(spec, ns), **opts))
        svc = exposure.service(spec, ns, labels_of(spec), via)
        await call(cluster_id, lambda: core.patch_namespaced_service(spec.id, ns, svc, **opts))
        custom = client.CustomObjectsApi(api)
        for route in exposure.routes(spec, ns, via):
            name = route["metadata"]["name"]
            try:
                await call(cluster_id, lambda r=route, n=name: custom.patch_namespaced_custom_object(
                    exposure.GATEWAY_GROUP, exposure.GATEWAY_VERSION, ns, exposure.ROUTES, n, r, **opts))  # fmt: skip
            except NotFound:
                raise InvalidRequest(f"cluster {cluster_id} has no Gateway API (HTTPRoute): install its CRDs "
                                     "and a Gateway, or publish by node-port or load-balancer") from None
        return await self._status(cluster_id, spec.id)  # type: ignore[return-value]

    async def _resolve_secrets(self, cluster_id: str, core: client.CoreV1Api, spec: WorkloadSpec) -> dict[str, str]:
        """Each `secretRef`'s value: the tenant's Secret on this cluster, or its Vault path. The values
        live in `deploy` only, on their way to the workload's Secret: never returned, logged or put
        in an error."""
        values: dict[str, str] = {}
        source_ns = tenancy.tenant_secrets_namespace(spec.tenant)
        for var, ref in sorted(spec.secret_env.items()):
            if ref.vault is not None:
                values[var] = (await asyncio.to_thread(read_vault, spec.tenant, ref)).get_secret_value()
                continue
            found = await call_or_none(cluster_id, lambda r=ref: core.read_namespaced_secret(r.kubernetes, source_ns))
            if found is None or ref.key not in (found.data or {}):
                what = "no such Secret" if found is None else f"the Secret has no key {ref.key!r}"
                raise InvalidRequest(f"secret_env {var}: secretRef kubernetes {ref.kubernetes!r}: {what} in "
                                     f"namespace {source_ns} of cluster {cluster_id}")
            values[var] = base64.b64decode(found.data[ref.key]).decode()
        return values

    async def _write_secret(self, cluster_id: str, core: client.CoreV1Api, spec: WorkloadSpec, ns: str,
                            values: dict[str, str]) -> None:
        """The workload's own Secret, which its pod template refers to (`secretKeyRef`)."""
        if not values:
            return
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": secret_name(spec.id), "namespace": ns,
                             "labels": {**MANAGED_BY, WORKLOAD: spec.id}},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}}
        opts = {"field_manager": FIELD_MANAGER, "force": True, "_content_type": APPLY}
        await call(cluster_id, lambda: core.patch_namespaced_secret(secret_name(spec.id), ns, body, **opts))

    async def _namespace_of(self, cluster_id: str, workload_id: str) -> str | None:
        """Where a workload runs: found once by its label (its Deployment, else its Service), then kept.
        A workload whose objects are gone but whose grant is left (a removal cut short) is found by
        its grant. Workloads of versions before namespaces per service are found in `legato` alike."""
        if (cluster_id, workload_id) in self._namespaces:
            return self._namespaces[(cluster_id, workload_id)]
        apps, core = await self._apis(cluster_id)
        selector = f"{WORKLOAD}={workload_id}"
        found = (await call(cluster_id, lambda: apps.list_deployment_for_all_namespaces(
            label_selector=selector))).items  # fmt: skip
        if not found:
            found = (await call(cluster_id, lambda: core.list_service_for_all_namespaces(
                label_selector=selector))).items  # fmt: skip
        if found:  # a Deployment or Service labelled as the workload's: a plain one (a chart's carry no such label)
            self._namespaces[(cluster_id, workload_id)] = found[0].metadata.namespace
            self._plain.add((cluster_id, workload_id))
            return found[0].metadata.namespace
        quotas = await call(cluster_id, lambda: core.list_resource_quota_for_all_namespaces(label_selector=SELECTOR))
        return next((q.metadata.namespace for q in quotas.items if workload_id in tenancy.grants_in(q)), None)

    async def status(self, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
        if (release := await self._release(cluster_id, workload_id)) is not None:
            return await self.releases.status(cluster_id, release[0], release[1], workload_id, release[2])
        return await self._status(cluster_id, workload_id)

    async def _status(self, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
        ns = await self._namespace_of(cluster_id, workload_id)
        if ns is None:
            return None
        apps, core = await self._apis(cluster_id)
        d = await call_or_none(cluster_id, lambda: apps.read_namespaced_deployment(workload_id, ns))
        if d is None:
            self._namespaces.pop((cluster_id, workload_id), None)
            self._plain.discard((cluster_id, workload_id))
            return None
        svc = await call_or_none(cluster_id, lambda: core.read_namespaced_service(workload_id, ns))
        pods = await call(cluster_id, lambda: core.list_namespaced_pod(
            ns, label_selector=f"{WORKLOAD}={workload_id}"))  # fmt: skip
        return to_status(cluster_id, d, svc, pods.items, await self._endpoint(cluster_id, svc, ns, workload_id))

    async def _endpoint(self, cluster_id: str, svc: client.V1Service | None, ns: str, workload_id: str,
                        nodes: list[client.V1Node] | None = None) -> str | None:
        """The address users reach (`exposure`): a NodePort's needs the nodes' addresses, a gateway's its routes."""
        if svc is None:
            return None
        via = await self.publications.of(cluster_id)
        api = await self.clusters.api_client(cluster_id)
        if svc.spec.type == "NodePort" and via.address is None and nodes is None:
            nodes = (await call(cluster_id, lambda: client.CoreV1Api(api).list_node())).items
        routes: list[str] = []
        if via.via == "gateway" and svc.spec.type == "ClusterIP":
            custom = client.CustomObjectsApi(api)
            found = await call_or_none(cluster_id, lambda: custom.list_namespaced_custom_object(
                exposure.GATEWAY_GROUP, exposure.GATEWAY_VERSION, ns, exposure.ROUTES,
                label_selector=f"{WORKLOAD}={workload_id}"))  # fmt: skip
            by_port = {int(r["metadata"]["name"].rsplit("-p", 1)[1]): r["metadata"]["annotations"]["legato.io/endpoint"]
                       for r in (found or {}).get("items", [])}  # fmt: skip
            routes = [by_port[p.port] for p in svc.spec.ports if p.port in by_port]
        return exposure.endpoint(svc, via, nodes, routes)

    async def scale(self, op_id: str, cluster_id: str, workload_id: str, replicas: int,
                    prefer_nodes: list[str] | None = None) -> WorkloadStatus:
        """Through the scale subresource. `prefer_nodes` is not applied: a node affinity per added
        replica does not exist, and changing the template's would roll every pod. The namespace's
        quota takes the new grant first, so the added replicas are admitted."""
        apps, core = await self._apis(cluster_id)
        ns = await self._require_namespace(cluster_id, workload_id)
        grant = tenancy.grants_in(await call_or_none(
            cluster_id, lambda: core.read_namespaced_resource_quota(tenancy.QUOTA, ns))).get(workload_id)  # fmt: skip
        if grant is not None:
            await tenancy.set_grant(cluster_id, core, ns, workload_id, {**grant, "replicas": replicas})
        if (release := await self._release(cluster_id, workload_id, ns)) is not None:  # a chart: its values
            return await self.releases.scale(op_id, cluster_id, release[0], ns, workload_id, replicas)
        body = {"spec": {"replicas": replicas}}
        await call(cluster_id, lambda: apps.patch_namespaced_deployment_scale(workload_id, ns, body))
        return await self._status(cluster_id, workload_id)  # type: ignore[return-value]

    async def _require_namespace(self, cluster_id: str, workload_id: str) -> str:
        ns = await self._namespace_of(cluster_id, workload_id)
        if ns is None:
            raise NotFound(f"cluster {cluster_id}: no workload {workload_id}")
        return ns

    async def upgrade(self, op_id: str, cluster_id: str, workload_id: str, image: str, version: str,
                      values: dict | None = None) -> WorkloadStatus:
        """A new pod template; the Deployment controller rolls it out (maxUnavailable 0). A chart's
        release goes to chart version `version` with `values` where given (back to the previous
        revision's version and values: `helm rollback`); a plain workload has no values."""
        if (release := await self._release(cluster_id, workload_id)) is not None:
            return await self.releases.upgrade(op_id, cluster_id, release[0], release[1], workload_id, version,
                                               values)
        if values is not None:
            raise InvalidRequest(f"workload {workload_id} runs an image: values are a chart's")
        apps, _ = await self._apis(cluster_id)
        ns = await self._require_namespace(cluster_id, workload_id)
        d = await call(cluster_id, lambda: apps.read_namespaced_deployment(workload_id, ns))
        container = d.spec.template.spec.containers[0].name
        patch = {
            "metadata": {"annotations": {VERSION: version}},
            "spec": {"template": {"metadata": {"annotations": {VERSION: version}},
                                  "spec": {"containers": [{"name": container, "image": image_ref(image, version)}]}}},
        }  # fmt: skip
        await call(cluster_id, lambda: apps.patch_namespaced_deployment(workload_id, ns, patch,
                                                                        _content_type=MERGE))  # fmt: skip
        return await self._status(cluster_id, workload_id)  # type: ignore[return-value]

    async def remove(self, op_id: str, cluster_id: str, workload_id: str) -> None:
        """Deletes the Deployment (its ReplicaSets and Pods go with it), the Service, the network
        policy, the Secret and the routes, each only if Legato's; then its grant; the service's last
        workload on the cluster takes the namespace with it (`tenancy`). Nothing outside the
        workload's own namespace is touched. A chart's release is uninstalled first."""
        if (release := await self._release(cluster_id, workload_id)) is not None:
            await self.releases.remove(cluster_id, release[0], release[1], workload_id, release[2])
        ns = await self._namespace_of(cluster_id, workload_id)
        if ns is None:
            return
        api = await self.clusters.api_client(cluster_id)
        apps, core, net = client.AppsV1Api(api), client.CoreV1Api(api), client.NetworkingV1Api(api)
        service_label: str | None = None
        for name, read, delete in (
            (workload_id, apps.read_namespaced_deployment, apps.delete_namespaced_deployment),
            (workload_id, core.read_namespaced_service, core.delete_namespaced_service),
            (workload_id, net.read_namespaced_network_policy, net.delete_namespaced_network_policy),
            (secret_name(workload_id), core.read_namespaced_secret, core.delete_namespaced_secret),
        ):
            found = await call_or_none(cluster_id, lambda r=read, n=name: r(n, ns))
            if found is None or (found.metadata.labels or {}).items() < MANAGED_BY.items():
                continue
            service_label = service_label or (found.metadata.labels or {}).get(tenancy.SERVICE)
            await call_or_none(cluster_id, lambda d=delete, n=name: d(n, ns, propagation_policy="Background"))
        custom = client.CustomObjectsApi(api)
        for route in ((await call_or_none(cluster_id, lambda: custom.list_namespaced_custom_object(
                exposure.GATEWAY_GROUP, exposure.GATEWAY_VERSION, ns, exposure.ROUTES,
                label_selector=f"{WORKLOAD}={workload_id}"))) or {}).get("items", []):  # fmt: skip
            await call_or_none(cluster_id, lambda r=route: custom.delete_namespaced_custom_object(
                exposure.GATEWAY_GROUP, exposure.GATEWAY_VERSION, ns, exposure.ROUTES, r["metadata"]["name"]))
        self._namespaces.pop((cluster_id, workload_id), None)
        self._plain.discard((cluster_id, workload_id))
        if ns == NAMESPACE:
            return  # the namespace of versions before namespaces per service: shared, kept
        await tenancy.set_grant(cluster_id, core, ns, workload_id, None)
        found_ns = await call_or_none(cluster_id, lambda: core.read_namespace(ns))
        service_label = service_label or ((found_ns.metadata.labels or {}).get(tenancy.SERVICE) if found_ns else None)
        if service_label and ns.startswith(tenancy.PREFIX):
            await tenancy.drop_namespace_if_empty(cluster_id, core, ns, service_label)

    async def list_workloads(self, cluster_id: str | None = None) -> list[WorkloadStatus]:
        ids = [cluster_id] if cluster_id else await self.clusters.kube_cluster_ids()
        found: list[WorkloadStatus] = []
        for cid in ids:
            apps, core = await self._apis(cid)
            ds = await call(cid, lambda a=apps: a.list_deployment_for_all_namespaces(label_selector=SELECTOR))
            svcs = await call(cid, lambda c=core: c.list_service_for_all_namespaces(label_selector=SELECTOR))
            # One pod list for the whole cluster, split by workload: the cost stays one call however many.
            pods = await call(cid, lambda c=core: c.list_pod_for_all_namespaces(label_selector=WORKLOAD))
            by_workload: dict[str, list[client.V1Pod]] = {}
            for p in pods.items:
                by_workload.setdefault((p.metadata.labels or {}).get(WORKLOAD, ""), []).append(p)
            by_name = {(s.metadata.namespace, s.metadata.name): s for s in svcs.items}
            nodes = None
            for d in ds.items:
                svc = by_name.get((d.metadata.namespace, d.metadata.name))
                if nodes is None and svc is not None and svc.spec.type == "NodePort":
                    nodes = (await call(cid, lambda c=core: c.list_node())).items
                where = await self._endpoint(cid, svc, d.metadata.namespace, d.metadata.name, nodes)
                found.append(to_status(cid, d, svc, by_workload.get(d.metadata.name, []), where))
        for cid in ids:  # and the chart components' releases (helm.py), read in Legato's namespaces only
            _, core = await self._apis(cid)
            spaces = await call(cid, lambda c=core: c.list_namespace(label_selector=SELECTOR))
            names = sorted(n.metadata.name for n in spaces.items if n.metadata.name.startswith(tenancy.PREFIX))
            found.extend(await self.releases.statuses(cid, await self.clusters.api_client(cid), names))
        return found

    async def serving_history(self, service_id: str, component: str, since: float,
                              until: float) -> ServingHistory | None:
        """The API server keeps no history of pods: an operation's continuity is sampled instead."""
        return None

    async def metrics(self, cluster_id: str, workload_id: str) -> WorkloadMetrics | None:
        """Without a metrics pipeline, the error rate is the share of the workload's pods that are not
        ready or have restarted: what the cluster itself can tell about a bad version."""
        if (release := await self._release(cluster_id, workload_id)) is not None:
            return await self.releases.metrics(cluster_id, release[0], release[1], workload_id, release[2])
        apps, core = await self._apis(cluster_id)
        ns = await self._namespace_of(cluster_id, workload_id)
        d = None if ns is None else await call_or_none(
            cluster_id, lambda: apps.read_namespaced_deployment(workload_id, ns))  # fmt: skip
        if d is None:
            return None
        pods = (await call(cluster_id, lambda: core.list_namespaced_pod(
            ns, label_selector=f"{WORKLOAD}={workload_id}"))).items  # fmt: skip
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


def refusal(d: client.V1Deployment) -> str | None:
    """Why the cluster refuses to create the Deployment's pods, in the API server's words (its
    ReplicaSet's failed create: `pods "..." is forbidden: exceeded quota: ...`)."""
    for c in (d.status.conditions or []) if d.status else []:
        if c.type == "ReplicaFailure" and c.status == "True":
            return c.message or c.reason
    return None


def to_status(
    cluster_id: str, d: client.V1Deployment, svc: client.V1Service | None, pods: list[client.V1Pod] | None = None,
    endpoint: str | None | object = ...,
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
    if endpoint is ...:  # not read by the caller (`exposure`): the cluster-internal address
        endpoint = exposure.endpoint(svc, Publication())
    return WorkloadStatus(
        id=d.metadata.name, cluster=cluster_id, component=labels.get("legato.io/component", ""),
        service_id=labels.get("legato.io/service", ""), version=annotations.get(VERSION, ""), replicas=want,
        ready_replicas=ready, endpoint=endpoint, nodes=pods_per_node(pods or []), serving=serving,
        updated_replicas=serving.get(annotations.get(VERSION, ""), 0), refused=refusal(d),
    )  # fmt: skip
