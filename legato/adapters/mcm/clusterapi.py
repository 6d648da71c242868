"""MCM through Cluster API: Legato writes a workload cluster as CAPI objects in the site's
management cluster and lets CAPI's controllers and the site's infrastructure provider build it on
the hosts the PIM allocated.

Per cluster `<c>`, in the site's namespace, all labelled `legato.io/cluster=<c>` and named from the
cluster id alone (the workflow derives the id from the operation id), so a retried create finds and
re-applies the same objects (server-side apply) instead of making new ones:

| object | name | what it holds |
|---|---|---|
| Cluster | `<c>` | site, owner and shared as labels; references the two below |
| the provider's InfraCluster | `<c>` | `infrastructure.cluster_spec` |
| KubeadmControlPlane | `<c>-control-plane` | version, `control_plane_replicas`, `kubeadm` merged in |
| InfraMachineTemplate | `<c>-control-plane` | `control_plane_machine_spec`: the operator's hosts, not the PIM's |
| MachineDeployment | `<c>-workers` | one replica per host Legato handed over |
| InfraMachineTemplate | `<c>-workers` | `machine_spec` + a host selector `legato.io/cluster=<c>` |
| KubeadmConfigTemplate | `<c>-workers` | how workers join |
| ConfigMap | `<c>-legato-ops` | each operation's first answer, by operation id (the dedup of the MCM contract) |

The hosts are handed over Metal3's way: each is an object of `host_resource` named like the host,
which Legato labels `legato.io/cluster=<c>` before the MachineDeployment grows, and unlabels only
once the machine on it is gone. The workers are the PIM's hosts, every one of them (so any can be
removed again); the control plane runs on machines of the operator's choosing (a pool of its own,
VMs, or a hosted control plane), and runs no workload. A worker's node is named like its host; once
it has joined, Legato labels it as it labels every node it deploys onto (host, site, features).

Ready means: infrastructure provisioned, control plane initialized, and for every handed-over host
a Running Machine whose Node is Ready. A call waits for it at most `ready_timeout_seconds`, then
reports a TransientFault naming what is still missing; the retry re-applies and waits again. The
workload cluster's credentials are the kubeconfig Secret CAPI writes (`<c>-kubeconfig`), read when
the WDM asks for the cluster and never copied anywhere else.

Removing nodes: the caller drains them first (the MCM protocol's three calls); `remove_nodes` then
marks those hosts' Machines `cluster.x-k8s.io/delete-machine` and lowers the replicas, so CAPI
deletes exactly those machines, and unlabels the hosts once their machines are gone. Upgrades set the
KubeadmControlPlane's version (CAPI rolls the control plane machine by machine), then, per batch of
drained workers, the MachineDeployment's version; CAPI replaces those machines one at a time, on the
same hosts, under the same node names."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from legato.adapters.errors import InvalidRequest, NotFound, TransientFault
from legato.adapters.kube import MANAGED_BY, call, call_or_none, client_from_kubeconfig
from legato.adapters.mcm.nodes import HOST_LABEL, busy, closed_empty, control_plane_version, drain, kubelet_versions
from legato.adapters.wdm.kubernetes import FEATURE_LABEL
from legato.model import Cluster, Host, Site
from legato.model.clusters import DrainResult
from legato.model.service import NAME_PATTERN
from legato.model.versions import canonical, canonical_or_none, upgrade_refusal

CAPI = ("cluster.x-k8s.io", "v1beta2")
CONTROL_PLANE = ("controlplane.cluster.x-k8s.io", "v1beta2")
BOOTSTRAP = ("bootstrap.cluster.x-k8s.io", "v1beta2")
CLUSTER_LABEL = "legato.io/cluster"
SITE_LABEL, OWNER_LABEL, SHARED_LABEL = "legato.io/site", "legato.io/owner", "legato.io/shared"
DELETE_MACHINE = "cluster.x-k8s.io/delete-machine"
CAPI_CLUSTER_NAME = "cluster.x-k8s.io/cluster-name"
DEPLOYMENT_NAME = "cluster.x-k8s.io/deployment-name"
FIELD_MANAGER = "legato"
POLL = 0.5
# How long an operation's first answer is kept for its retries: four times the longest an activity is
# retried (a compensation, six hours), and at most this many bytes of a ConfigMap (which holds 1 MiB),
# so a shared cluster's record of operations stays bounded over its life. A retry older than both
# acts again, which re-applies the same objects.
ANSWERS_KEPT_SECONDS = 24 * 3600
ANSWERS_KEPT_BYTES = 512 * 1024


def merged(base: dict, extra: dict) -> dict:
    """`extra` over `base`, dictionaries merged key by key (the operator's kubeadm settings over Legato's)."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def answer_of(entry: str) -> str:
    """The answer in an entry of the operations record: `<unix time> <answer>`."""
    return entry.split(" ", 1)[1]


def stale_answers(entries: dict[str, str], now: float) -> list[str]:
    """The keys of the entries to drop: older than ANSWERS_KEPT_SECONDS, or beyond ANSWERS_KEPT_BYTES
    counting from the newest."""
    def at(entry: str) -> int:
        stamp = entry.split(" ", 1)[0]
        return int(stamp) if stamp.isdigit() else 0
    stale, size = [], 0
    for key, entry in sorted(entries.items(), key=lambda kv: at(kv[1]), reverse=True):
        size += len(key) + len(entry)
        if now - at(entry) > ANSWERS_KEPT_SECONDS or size > ANSWERS_KEPT_BYTES:
            stale.append(key)
    return stale


class ClusterAPIMCM:
    """One site's clusters in its management cluster (one instance per site)."""

    def __init__(self, site: Site, kube: client.ApiClient | None = None) -> None:
        assert site.backend.clusterapi is not None  # the topology validates it
        self.site, self.cfg = site, site.backend.clusterapi
        self.hosts = {h.id: h.model_copy(update={"site": site.id}) for h in site.hosts}
        self.ns = self.cfg.namespace
        self.where = f"{site.id} (management)"  # how errors name the management cluster
        self._kube = kube
        self._workload: dict[str, client.ApiClient] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        infra = self.cfg.infrastructure
        self.infra_group, self.infra_version = infra.api_version.split("/")
        plural, version, group = infra.host_resource.split(".", 2)
        self.host_api = (group, version, plural)

    # ---- talking to the management cluster

    @property
    def custom(self) -> client.CustomObjectsApi:
        if self._kube is None:
            self._kube = client_from_kubeconfig(Path(self.cfg.kubeconfig), self.cfg.context)
        return client.CustomObjectsApi(self._kube)

    @property
    def core(self) -> client.CoreV1Api:
        self.custom  # noqa: B018  (builds the client)
        return client.CoreV1Api(self._kube)

    async def _get(self, api: tuple[str, str], plural: str, name: str) -> dict | None:
        return await call_or_none(self.where, lambda: self.custom.get_namespaced_custom_object(
            *api, self.ns, plural, name))  # fmt: skip

    async def _list(self, api: tuple[str, str], plural: str, selector: str) -> list[dict]:
        found = await call(self.where, lambda: self.custom.list_namespaced_custom_object(
            *api, self.ns, plural, label_selector=selector))  # fmt: skip
        return found["items"]

    async def _apply(self, api: tuple[str, str], plural: str, body: dict) -> dict:
        """Server-side apply: a retry writes the same object, and fields CAPI owns are left to CAPI."""
        name = body["metadata"]["name"]
        return await call(self.where, lambda: self.custom.patch_namespaced_custom_object(
            *api, self.ns, plural, name, body, field_manager=FIELD_MANAGER, force=True,
            _content_type="application/apply-patch+yaml"))  # fmt: skip

    async def _merge(self, api: tuple[str, str], plural: str, name: str, body: dict) -> None:
        await call(self.where, lambda: self.custom.patch_namespaced_custom_object(
            *api, self.ns, plural, name, body, _content_type="application/merge-patch+json"))  # fmt: skip

    async def _delete(self, api: tuple[str, str], plural: str, name: str) -> None:
        await call_or_none(self.where, lambda: self.custom.delete_namespaced_custom_object(
            *api, self.ns, plural, name))  # fmt: skip

    @property
    def _infra(self) -> tuple[str, str]:
        return self.infra_group, self.infra_version

    def _plural(self, kind: str) -> str:
        return kind.lower() + "s"

    def _meta(self, name: str, cluster_id: str, **labels: str) -> dict:
        labels = {**MANAGED_BY, CLUSTER_LABEL: cluster_id, CAPI_CLUSTER_NAME: cluster_id, **labels}
        return {"name": name, "namespace": self.ns, "labels": labels}

    # ---- KubeClusters, for the Kubernetes WDM

    async def api_client(self, cluster_id: str) -> client.ApiClient:
        """The workload cluster, through the kubeconfig Secret CAPI wrote for it."""
        if cluster_id not in self._workload:
            if await self._cluster(cluster_id) is None:
                raise NotFound(f"cluster {cluster_id} is not a Cluster API cluster of site {self.site.id}")
            secret = await call_or_none(self.where, lambda: self.core.read_namespaced_secret(
                f"{cluster_id}-kubeconfig", self.ns))  # fmt: skip
            if secret is None or "value" not in (secret.data or {}):
                raise TransientFault(f"cluster {cluster_id}: CAPI has not written its kubeconfig yet")
            data = yaml.safe_load(base64.b64decode(secret.data["value"]))
            self._workload[cluster_id] = config.new_client_from_config_dict(data, persist_config=False)
        return self._workload[cluster_id]

    async def kube_cluster_ids(self) -> list[str]:
        return sorted(c["metadata"]["name"] for c in await self._clusters())

    # ---- reads

    async def _clusters(self) -> list[dict]:
        selector = ",".join(f"{k}={v}" for k, v in {**MANAGED_BY, SITE_LABEL: self.site.id}.items())
        return await self._list(CAPI, "clusters", selector)

    async def _cluster(self, cluster_id: str) -> dict | None:
        found = await self._get(CAPI, "clusters", cluster_id)
        labels = (found or {}).get("metadata", {}).get("labels", {})
        return found if found and labels.get(SITE_LABEL) == self.site.id and CLUSTER_LABEL in labels else None

    async def _held_hosts(self, cluster_id: str) -> list[str]:
        """The hosts Legato handed to this cluster (labelled for it)."""
        found = await call(self.where, lambda: self.custom.list_namespaced_custom_object(
            *self.host_api[:2], self.ns, self.host_api[2], label_selector=f"{CLUSTER_LABEL}={cluster_id}"))  # fmt: skip
        return sorted(h["metadata"]["name"] for h in found["items"])

    async def list_clusters(self, site: str | None = None) -> list[Cluster]:
        if site not in (None, self.site.id):
            return []
        found = [await self._read(c) for c in await self._clusters()]
        return [c for c in found if c is not None]

    async def get_cluster(self, cluster_id: str) -> Cluster | None:
        found = await self._cluster(cluster_id)
        return await self._read(found) if found else None

    async def _read(self, obj: dict) -> Cluster | None:
        """The cluster as the management cluster and the workload cluster tell it. A host's node
        that joined without Legato's labels (a machine CAPI replaced) is labelled on the way."""
        labels, cluster_id = obj["metadata"]["labels"], obj["metadata"]["name"]
        hosts = await self._held_hosts(cluster_id)
        version, node_versions = "", {}
        try:
            api = await self.api_client(cluster_id)
            version = await control_plane_version(cluster_id, api)
            core = client.CoreV1Api(api)
            node_versions = {n: v for n, v in (await kubelet_versions(cluster_id, core, selector="")).items()
                             if n in hosts}  # fmt: skip
            if unlabelled := set(node_versions) - set(await kubelet_versions(cluster_id, core)):
                await self._label_nodes(cluster_id, sorted(unlabelled))
        except (NotFound, TransientFault):
            pass  # not answering yet (or any more): the versions are unknown, not wrong
        return Cluster(id=cluster_id, site=self.site.id, hosts=hosts,
                       shared=labels.get(SHARED_LABEL) == "true", service_id=labels.get(OWNER_LABEL),
                       kubernetes_version=version, node_versions=node_versions)  # fmt: skip

    # ---- what each operation answered first (the contract's dedup on op_id)

    def _ops_name(self, cluster_id: str) -> str:
        return f"{cluster_id}-legato-ops"

    @staticmethod
    def _op_key(op_id: str) -> str:
        return hashlib.sha256(op_id.encode()).hexdigest()[:24]

    async def _answers(self, cluster_id: str) -> dict[str, str]:
        cm = await call_or_none(self.where, lambda: self.core.read_namespaced_config_map(
            self._ops_name(cluster_id), self.ns))  # fmt: skip
        return (cm.data or {}) if cm else {}

    async def _answered(self, cluster_id: str, op_id: str) -> str | None:
        entry = (await self._answers(cluster_id)).get(self._op_key(op_id))
        return None if entry is None else answer_of(entry)

    async def _answer(self, cluster_id: str, op_id: str, answer: str) -> None:
        """Record the answer (each operation applies its own key, so concurrent ones keep each
        other's), then drop the answers no retry can still ask for."""
        entry = f"{int(time.time())} {answer}"
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self._meta(self._ops_name(cluster_id), cluster_id),
                "data": {self._op_key(op_id): entry}}  # fmt: skip
        written = await call(self.where, lambda: self.core.patch_namespaced_config_map(
            self._ops_name(cluster_id), self.ns, body, field_manager=f"{FIELD_MANAGER}-{self._op_key(op_id)[:8]}",
            force=True, _content_type="application/apply-patch+yaml"))  # fmt: skip
        if stale := stale_answers(written.data or {}, time.time()):  # the record as the apply left it
            await call_or_none(self.where, lambda: self.core.patch_namespaced_config_map(
                self._ops_name(cluster_id), self.ns, {"data": dict.fromkeys(stale)}))  # fmt: skip

    async def _once(
        self, cluster_id: str, op_id: str, act: Callable, load: Callable[[str], Any], dump: Callable[[Any], str]
    ) -> Any:
        """Run `act` unless this operation already answered; record its answer."""
        first = await self._answered(cluster_id, op_id)
        if first is not None:
            return load(first)
        answer = await act()
        if answer is not None:
            await self._answer(cluster_id, op_id, dump(answer))
        return answer

    # ---- create and grow

    async def create_cluster(self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str) -> Cluster:
        return await self._create(op_id, cluster_id, site, host_ids, owner or None, shared=False)

    async def start_shared_clusters(self) -> list[Cluster]:
        """The topology's clusters at this site (shared by every service), created if missing."""
        return [
            await self._create(f"shared/{c.id}", c.id, self.site.id, c.hosts, None, shared=True)
            for c in self.site.clusters
        ]

    async def _create(
        self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str | None, shared: bool
    ) -> Cluster:
        if not re.fullmatch(NAME_PATTERN, cluster_id):
            raise InvalidRequest(f"cluster id {cluster_id!r} is not a DNS-1123 label")
        async with self._lock(cluster_id):
            existing = await self._get(CAPI, "clusters", cluster_id)
            if existing is not None:
                labels = existing["metadata"].get("labels", {})
                if (labels.get(SITE_LABEL), labels.get(OWNER_LABEL)) != (site, owner) or CLUSTER_LABEL not in labels:
                    raise InvalidRequest(f"cluster {cluster_id} already exists")
            if site != self.site.id:
                raise InvalidRequest(f"site {site} is not served by this Cluster API MCM (site {self.site.id})")
            hosts = self._site_hosts(host_ids)

            async def act() -> Cluster:
                if existing is None and not hosts:
                    raise InvalidRequest(f"cluster {cluster_id}: a cluster needs at least one host")
                await self._write_cluster(cluster_id, hosts, owner, shared)
                return await self._ready(cluster_id)

            return await self._once(cluster_id, op_id, act, Cluster.model_validate_json, Cluster.model_dump_json)

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster:
        if await self._cluster(cluster_id) is None:
            raise NotFound(f"cluster {cluster_id} does not exist")
        hosts = self._site_hosts(host_ids)

        async def act() -> Cluster:
            async with self._lock(cluster_id):
                await self._hand_over(cluster_id, hosts)
                await self._scale_workers(cluster_id)
            return await self._ready(cluster_id)

        return await self._once(cluster_id, op_id, act, Cluster.model_validate_json, Cluster.model_dump_json)

    def _site_hosts(self, host_ids: list[str]) -> list[Host]:
        for host_id in host_ids:
            if host_id not in self.hosts:
                raise InvalidRequest(f"host {host_id} does not exist at site {self.site.id}")
        return [self.hosts[h] for h in dict.fromkeys(host_ids)]

    async def _hand_over(self, cluster_id: str, hosts: list[Host]) -> None:
        """Label each host for the cluster (what the workers' host selector matches). A host
        another cluster holds is refused before any is labelled; one missing from the management
        cluster is an operator's omission, named."""
        group, version, plural = self.host_api
        found = {}
        for host in hosts:
            obj = await call_or_none(self.where, lambda h=host: self.custom.get_namespaced_custom_object(
                group, version, self.ns, plural, h.id))  # fmt: skip
            if obj is None:
                raise InvalidRequest(
                    f"host {host.id} has no {plural} object in namespace {self.ns} of the "
                    f"management cluster of {self.site.id}: enrol it with the infrastructure provider first"
                )
            holder = obj["metadata"].get("labels", {}).get(CLUSTER_LABEL)
            if holder not in (None, cluster_id):
                raise InvalidRequest(f"host {host.id} is a node of cluster {holder}")
            found[host.id] = (holder, obj["metadata"]["resourceVersion"])
        for host_id, (holder, seen) in found.items():
            if holder is None:
                # only if unchanged since read: a host labelled meanwhile for another cluster is a
                # conflict (transient), and the retry reads who holds it and refuses
                label = {"metadata": {"labels": {CLUSTER_LABEL: cluster_id}, "resourceVersion": seen}}
                await call(self.where, lambda h=host_id, b=label: self.custom.patch_namespaced_custom_object(
                    group, version, self.ns, plural, h, b, _content_type="application/merge-patch+json"))  # fmt: skip

    async def _write_cluster(self, cluster_id: str, hosts: list[Host], owner: str | None, shared: bool) -> None:
        """Every object of the cluster, applied (a retry re-applies the same). The Cluster goes
        first, so whatever follows is found (and deleted) through it even if this call dies; the
        hosts are handed over before the MachineDeployment counts them."""
        infra, cfg = self.cfg.infrastructure, self.cfg
        labels = {SITE_LABEL: self.site.id, SHARED_LABEL: str(shared).lower()} | ({OWNER_LABEL: owner} if owner else {})
        cp, workers = f"{cluster_id}-control-plane", f"{cluster_id}-workers"
        template = {"apiGroup": self.infra_group, "kind": infra.machine_template_kind}
        selector = {infra.host_selector_field: {"matchLabels": {CLUSTER_LABEL: cluster_id}}}
        version = canonical(cfg.kubernetes_version)
        bootstrap = {"apiGroup": BOOTSTRAP[0], "kind": "KubeadmConfigTemplate", "name": workers}
        kubeadm = {"format": "cloud-config"}  # kubeadm's defaults, and what the operator's `kubeadm` adds
        kcp = await self._get(CONTROL_PLANE, "kubeadmcontrolplanes", cp)  # an upgrade may have moved versions on
        md = await self._get(CAPI, "machinedeployments", workers)

        await self._object(CAPI, "Cluster", cluster_id, cluster_id, {
            "controlPlaneRef": {"apiGroup": CONTROL_PLANE[0], "kind": "KubeadmControlPlane", "name": cp},
            "infrastructureRef": {"apiGroup": self.infra_group, "kind": infra.cluster_kind, "name": cluster_id},
        }, **labels)  # fmt: skip
        await self._object(self._infra, infra.cluster_kind, cluster_id, cluster_id, infra.cluster_spec)
        await self._object(self._infra, infra.machine_template_kind, cp, cluster_id,
                           {"template": {"spec": infra.control_plane_machine_spec}})  # fmt: skip
        await self._object(self._infra, infra.machine_template_kind, workers, cluster_id,
                           {"template": {"spec": merged(infra.machine_spec, selector)}})  # fmt: skip
        await self._object(CONTROL_PLANE, "KubeadmControlPlane", cp, cluster_id, {
            "replicas": cfg.control_plane_replicas, "version": (kcp or {}).get("spec", {}).get("version") or version,
            "rollout": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
            "machineTemplate": {"spec": {"infrastructureRef": {**template, "name": cp}}},
            "kubeadmConfigSpec": merged(kubeadm, cfg.kubeadm)})  # fmt: skip
        await self._object(BOOTSTRAP, "KubeadmConfigTemplate", workers, cluster_id,
                           {"template": {"spec": kubeadm}})  # fmt: skip
        await self._hand_over(cluster_id, hosts)
        version = (md or {}).get("spec", {}).get("template", {}).get("spec", {}).get("version") or version
        machines = {DEPLOYMENT_NAME: workers, CAPI_CLUSTER_NAME: cluster_id}
        await self._object(CAPI, "MachineDeployment", workers, cluster_id, {
            "clusterName": cluster_id, "replicas": len(await self._held_hosts(cluster_id)),
            "selector": {"matchLabels": machines},
            "rollout": {"strategy": {"type": "OnDelete"}},  # a machine is replaced when Legato deletes it
            "template": {"metadata": {"labels": machines}, "spec": {
                "clusterName": cluster_id, "version": version,
                "bootstrap": {"configRef": bootstrap},
                "infrastructureRef": {**template, "name": workers}}}})  # fmt: skip

    async def _object(self, api: tuple[str, str], kind: str, name: str, cluster_id: str, spec: dict,
                      **labels: str) -> None:  # fmt: skip
        body = {"apiVersion": "/".join(api), "kind": kind, "metadata": self._meta(name, cluster_id, **labels),
                "spec": spec}  # fmt: skip
        await self._apply(api, self._plural(kind), body)

    async def _scale_workers(self, cluster_id: str) -> None:
        await self._merge(
            CAPI,
            "machinedeployments",
            f"{cluster_id}-workers",
            {"spec": {"replicas": len(await self._held_hosts(cluster_id))}},
        )

    # ---- following CAPI to ready

    async def _ready(self, cluster_id: str) -> Cluster:
        """Wait until every handed-over host is a Ready node of the cluster, then label those nodes."""
        deadline = time.monotonic() + self.cfg.ready_timeout_seconds
        while True:
            missing = await self._not_ready(cluster_id)
            if not missing:
                break
            if time.monotonic() > deadline:
                raise TransientFault(
                    f"cluster {cluster_id} not ready after {self.cfg.ready_timeout_seconds:g} s: {missing}"
                )
            await asyncio.sleep(POLL)
        await self._label_nodes(cluster_id)
        cluster = await self.get_cluster(cluster_id)
        assert cluster is not None
        return cluster

    async def _not_ready(self, cluster_id: str) -> str:
        """What CAPI has not finished yet, in its own words ('' when ready)."""
        obj = await self._get(CAPI, "clusters", cluster_id)
        if obj is None:
            return "the Cluster object is gone"
        conditions = {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}
        for wanted in ("InfrastructureReady", "ControlPlaneInitialized"):
            c = conditions.get(wanted)
            if c is None or c.get("status") != "True":
                return f"{wanted}: {(c or {}).get('message') or (c or {}).get('reason') or 'not reported yet'}"
        machines = await self._list(CAPI, "machines", f"{CAPI_CLUSTER_NAME}={cluster_id},{DEPLOYMENT_NAME}")
        running = {
            m.get("status", {}).get("nodeRef", {}).get("name")
            for m in machines
            if m.get("status", {}).get("phase") == "Running" and not m["metadata"].get("deletionTimestamp")
        }
        waiting = [h for h in await self._held_hosts(cluster_id) if h not in running]
        if waiting:
            phases = sorted({m.get("status", {}).get("phase", "Pending") for m in machines})
            return f"no running machine yet on {', '.join(waiting)} (machines: {', '.join(phases) or 'none'})"
        return ""

    async def _label_nodes(self, cluster_id: str, host_ids: list[str] | None = None) -> None:
        """Each worker's node as Legato labels the nodes it deploys onto (host, site, features)."""
        core = client.CoreV1Api(await self.api_client(cluster_id))
        for host_id in await self._held_hosts(cluster_id) if host_ids is None else host_ids:
            host = self.hosts.get(host_id)
            if host is None:
                continue
            labels = {**MANAGED_BY, HOST_LABEL: host.id, SITE_LABEL: self.site.id} | {
                f"{FEATURE_LABEL}{f}": "true" for f in host.features
            }
            await call(cluster_id, lambda h=host_id, b={"metadata": {"labels": labels}}: core.patch_node(h, b))

    # ---- drain and remove

    async def drain_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], partial: bool) -> DrainResult:
        """As every Kubernetes MCM drains (`nodes.drain`): cordon, move make-before-break."""
        if await self._cluster(cluster_id) is None:
            return DrainResult()
        api = await self.api_client(cluster_id)

        async def act() -> DrainResult:
            async with self._lock(cluster_id):
                return await drain(cluster_id, client.CoreV1Api(api), client.AppsV1Api(api), op_id, host_ids, partial)

        return await self._once(cluster_id, op_id, act, DrainResult.model_validate_json, DrainResult.model_dump_json)

    async def busy_nodes(self, cluster_id: str, host_ids: list[str]) -> dict[str, int]:
        if await self._cluster(cluster_id) is None:
            return dict.fromkeys(host_ids, 0)
        return await busy(cluster_id, client.CoreV1Api(await self.api_client(cluster_id)), host_ids)

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None:
        """Mark the hosts' Machines for deletion, lower the replicas by as many, wait for CAPI to
        delete them, then take the hosts back. A node still running a pod is refused first."""
        if await self._cluster(cluster_id) is None:
            return None

        async def act() -> Cluster:
            async with self._lock(cluster_id):
                held = await self._held_hosts(cluster_id)
                going = [h for h in dict.fromkeys(host_ids) if h in held]
                if going:
                    await self._remove(cluster_id, going)
            cluster = await self.get_cluster(cluster_id)
            assert cluster is not None
            return cluster

        return await self._once(cluster_id, op_id, act, Cluster.model_validate_json, Cluster.model_dump_json)

    async def _remove(self, cluster_id: str, going: list[str]) -> None:
        await closed_empty(cluster_id, client.CoreV1Api(await self.api_client(cluster_id)), going)
        machines = await self._worker_machines(cluster_id)
        for machine in machines:
            if machine.get("status", {}).get("nodeRef", {}).get("name") in going:
                await self._merge(
                    CAPI,
                    "machines",
                    machine["metadata"]["name"],
                    {"metadata": {"annotations": {DELETE_MACHINE: "legato"}}},
                )
        held = await self._held_hosts(cluster_id)
        await self._merge(
            CAPI,
            "machinedeployments",
            f"{cluster_id}-workers",
            {"spec": {"replicas": len([h for h in held if h not in going])}},
        )
        deadline = time.monotonic() + self.cfg.ready_timeout_seconds
        while any(
            m.get("status", {}).get("nodeRef", {}).get("name") in going for m in await self._worker_machines(cluster_id)
        ):
            if time.monotonic() > deadline:
                raise TransientFault(f"cluster {cluster_id}: CAPI is still deleting the machines on {going}")
            await asyncio.sleep(POLL)
        await self._take_back(going)

    async def _worker_machines(self, cluster_id: str) -> list[dict]:
        return await self._list(CAPI, "machines", f"{CAPI_CLUSTER_NAME}={cluster_id},{DEPLOYMENT_NAME}")

    async def _take_back(self, host_ids: list[str]) -> None:
        group, version, plural = self.host_api
        for host_id in host_ids:
            await call_or_none(self.where, lambda h=host_id: self.custom.patch_namespaced_custom_object(
                group, version, self.ns, plural, h, {"metadata": {"labels": {CLUSTER_LABEL: None}}},
                _content_type="application/merge-patch+json"))  # fmt: skip

    # ---- delete

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        """Delete the Cluster (CAPI deletes its control plane, machines and infrastructure, in its
        order), wait until it is gone, then the templates Legato wrote, and take the hosts back. A
        call that outlasts `ready_timeout_seconds` is a TransientFault; the retry goes on waiting."""
        found = await self._cluster(cluster_id)
        if found is not None and found["metadata"]["labels"].get(SHARED_LABEL) == "true":
            raise InvalidRequest(f"cluster {cluster_id} is a shared cluster of the topology, not Legato's to delete")
        async with self._lock(cluster_id):
            self._workload.pop(cluster_id, None)
            if found is not None:
                await self._delete(CAPI, "clusters", cluster_id)
                deadline = time.monotonic() + self.cfg.ready_timeout_seconds
                while await self._get(CAPI, "clusters", cluster_id) is not None:
                    if time.monotonic() > deadline:
                        raise TransientFault(f"cluster {cluster_id}: CAPI is still deleting it")
                    await asyncio.sleep(POLL)
            await self._delete_leftovers(cluster_id)

    async def _delete_leftovers(self, cluster_id: str) -> None:
        """What the Cluster does not own: the templates, the operations record, the hosts' labels.
        Only objects labelled for this cluster and managed by Legato (a same-named foreign cluster
        is never touched, since `_cluster` did not claim it)."""
        infra = self.cfg.infrastructure
        selector = f"{CLUSTER_LABEL}={cluster_id},{','.join(f'{k}={v}' for k, v in MANAGED_BY.items())}"
        for api, plural in ((self._infra, self._plural(infra.machine_template_kind)),
                            (BOOTSTRAP, "kubeadmconfigtemplates"), (self._infra, self._plural(infra.cluster_kind)),
                            (CONTROL_PLANE, "kubeadmcontrolplanes"), (CAPI, "machinedeployments")):  # fmt: skip
            for obj in await self._list(api, plural, selector):
                await self._delete(api, plural, obj["metadata"]["name"])
        await self._take_back(await self._held_hosts(cluster_id))
        await call_or_none(self.where, lambda: self.core.delete_namespaced_config_map(
            self._ops_name(cluster_id), self.ns))  # fmt: skip

    # ---- upgrades

    async def kubernetes_versions(self, cluster_id: str) -> list[str]:
        if await self._cluster(cluster_id) is None:
            raise NotFound(f"cluster {cluster_id} does not exist")
        offered = {canonical(v) for v in [*self.cfg.versions, self.cfg.kubernetes_version]}
        return sorted(offered, key=lambda v: tuple(int(p) for p in v[1:].split(".")))

    async def upgrade_control_plane(self, op_id: str, cluster_id: str, version: str) -> Cluster:
        """Set the KubeadmControlPlane's version; CAPI rolls its machines one at a time."""
        cluster = await self.get_cluster(cluster_id)
        if cluster is None:
            raise NotFound(f"cluster {cluster_id} does not exist")
        kcp = await self._get(CONTROL_PLANE, "kubeadmcontrolplanes", f"{cluster_id}-control-plane")
        current = (kcp or {}).get("spec", {}).get("version") or cluster.kubernetes_version

        async def act() -> Cluster:
            if canonical_or_none(version) == canonical(current):
                return cluster
            refusal = upgrade_refusal(current, version, await self.kubernetes_versions(cluster_id))
            if refusal:
                raise InvalidRequest(f"cluster {cluster_id}: {refusal}")
            await self._merge(
                CONTROL_PLANE,
                "kubeadmcontrolplanes",
                f"{cluster_id}-control-plane",
                {"spec": {"version": canonical(version)}},
            )
            return cluster

        return await self._once(cluster_id, op_id, act, Cluster.model_validate_json, Cluster.model_dump_json)

    async def upgrade_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], version: str) -> Cluster | None:
        """Move the MachineDeployment to `version`, then delete the Machines of these (drained)
        hosts: its rollout is OnDelete, so CAPI replaces exactly those, each on the host its
        machine freed, under the same node name, with the new kubelet. Workers not named keep
        their machines until a later call names them, so the caller decides the order."""
        cluster = await self.get_cluster(cluster_id)
        if cluster is None:
            return None
        if not cluster.kubernetes_version:
            raise TransientFault(f"cluster {cluster_id}: its control plane does not answer; its version is unknown")
        if canonical_or_none(version) != canonical(cluster.kubernetes_version):
            raise InvalidRequest(
                f"cluster {cluster_id}: kubelets may not lead their API server "
                f"({cluster.kubernetes_version}); upgrade the control plane to {version} first"
            )

        async def act() -> Cluster:
            going = [h for h in host_ids if h in cluster.hosts and cluster.node_versions.get(h) != canonical(version)]
            await closed_empty(cluster_id, client.CoreV1Api(await self.api_client(cluster_id)), going)
            patch = {"spec": {"template": {"spec": {"version": canonical(version)}}}}
            await self._merge(CAPI, "machinedeployments", f"{cluster_id}-workers", patch)
            for machine in await self._worker_machines(cluster_id):
                if machine.get("status", {}).get("nodeRef", {}).get("name") in going:
                    await self._delete(CAPI, "machines", machine["metadata"]["name"])
            after = await self.get_cluster(cluster_id)
            assert after is not None
            return after

        return await self._once(cluster_id, op_id, act, Cluster.model_validate_json, Cluster.model_dump_json)

    def _lock(self, cluster_id: str) -> asyncio.Lock:
        return self._locks.setdefault(cluster_id, asyncio.Lock())
