"""Nodes of a Kubernetes cluster as Legato sees them: a Node per host, labelled with its site and
hardware features (what the WDM's node selectors match), and their removal make-before-break.

A drain never deletes a Legato pod: it cordons the nodes and restarts each Legato Deployment with
a pod on them (a new pod-template annotation, like `kubectl rollout restart`). The Deployments roll
with maxSurge 1 / maxUnavailable 0, so every replacement is scheduled on a node still open and is
ready before an old pod goes: a service keeps its requested count of ready replicas throughout.
Pods that are not Legato's are evicted (the Eviction API, which honours their disruption budgets).

Before anything moves, the pods are packed, on paper, onto the nodes that stay: a node whose pods
would not fit is left schedulable with its pods and reported stuck, rather than starting a
rollout that could never finish. Each decision is written on the Node (annotations tagged with
the operation), so a retry of the same operation finds what the first attempt did."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from legato.adapters.errors import CapacityExhausted, TransientFault
from legato.adapters.kube import APPLY, FIELD_MANAGER, MANAGED_BY, MERGE, call, call_or_none
from legato.adapters.wdm.hardware import HUGEPAGES, SRIOV, node_capacity
from legato.adapters.wdm.kubernetes import FEATURE_LABEL, GPU
from legato.model import Host
from legato.model.clusters import DrainResult

HOST_LABEL = "legato.io/host"
KWOK_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}
CORDONED = "legato.io/cordoned-by"  # on a Node: the drain that cordoned it and may uncordon it
DRAINING = "legato.io/drain"  # on a Node: the drain emptying it; on a pod template: the drain that restarted it
DRAIN_MANAGER = "legato-drain"  # its own field manager, so a later apply of the Deployment leaves the restart be
SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
ROOM = ("cpu", "memory", GPU, SRIOV, HUGEPAGES, "pods")


def kwok_node(host: Host, kubelet_version: str = "") -> dict[str, Any]:
    """A Node that kwok's controller keeps Ready and whose pods it runs, sized like the host, whose
    kubelet reports `kubelet_version` (kwok keeps a nodeInfo it finds, and fills in "fake" else)."""
    capacity = {"cpu": f"{host.cpu:g}", "memory": f"{host.memory_mb}Mi", "pods": "110"} | node_capacity(host)
    labels = {**MANAGED_BY, HOST_LABEL: host.id, "legato.io/site": host.site, "kubernetes.io/hostname": host.id,
              "type": "kwok"} | {f"{FEATURE_LABEL}{f}": "true" for f in host.features}  # fmt: skip
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": host.id, "labels": labels, "annotations": KWOK_ANNOTATION},
        "status": {"capacity": capacity, "allocatable": capacity}
                  | ({"nodeInfo": {"kubeletVersion": kubelet_version}} if kubelet_version else {}),
    }  # fmt: skip


async def node_names(cluster_id: str, core: client.CoreV1Api) -> list[str]:
    return sorted(await kubelet_versions(cluster_id, core))


async def kubelet_versions(cluster_id: str, core: client.CoreV1Api, selector: str = HOST_LABEL) -> dict[str, str]:
    """Each node's kubelet version, as the node reports it (status.nodeInfo)."""
    nodes = await call(cluster_id, lambda: core.list_node(label_selector=selector))
    return {n.metadata.name: (n.status.node_info.kubelet_version if n.status and n.status.node_info else "")
            for n in nodes.items}  # fmt: skip


async def control_plane_version(cluster_id: str, api: client.ApiClient) -> str:
    """What the API server says it runs (`/version`'s gitVersion)."""
    return (await call(cluster_id, lambda: client.VersionApi(api).get_code(_request_timeout=10))).git_version


async def create_nodes(cluster_id: str, core: client.CoreV1Api, hosts: list[Host], kubelet_version: str = "") -> None:
    for host in hosts:
        node = kwok_node(host, kubelet_version)
        await call(cluster_id, lambda h=host, n=node: core.patch_node(h.id, n, field_manager=FIELD_MANAGER,
                                                                      force=True, _content_type=APPLY))  # fmt: skip
        # The status is a subresource: apply it too, or a new Node has no capacity until kwok's first beat.
        await call(cluster_id, lambda h=host, n=node: core.patch_node_status(
            h.id, n, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY))  # fmt: skip


def quantity(v: str) -> float:
    """Kubernetes quantities, as far as Legato writes them (m, Ki/Mi/Gi, plain numbers)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda u: -len(u[0])):
        if v.endswith(suffix):
            return float(v[: -len(suffix)]) * factor
    return float(v)


def drain_tag(op_id: str) -> str:
    """What a drain writes on Nodes and pod templates: derived from the operation id, so a retry
    writes the same value and the Deployment controller sees no new template (no second restart)."""
    return hashlib.sha256(op_id.encode()).hexdigest()[:16]


# ---- which pods count


def _node_bound(pod: client.V1Pod) -> bool:
    """Bound to a node and not finished: it holds the node's room, terminating or not."""
    return bool(pod.spec.node_name) and (pod.status is None or pod.status.phase not in ("Succeeded", "Failed"))


def _node_local(pod: client.V1Pod) -> bool:
    """DaemonSet and static (mirror) pods belong to their node: they neither move nor keep it busy."""
    owners = pod.metadata.owner_references or []
    return any(o.kind == "DaemonSet" for o in owners) or "kubernetes.io/config.mirror" in (
        pod.metadata.annotations or {}
    )


async def busy(cluster_id: str, core: client.CoreV1Api, names: list[str]) -> dict[str, int]:
    """Pods each node still holds, terminating ones included (they are still serving or still
    being stopped), node-local ones excluded. One list per node by field selector, as kubectl's
    drain does: a handful of nodes costs a handful of small answers, whatever the cluster's size."""
    counts = {}
    for name in dict.fromkeys(names):
        pods = await call(
            cluster_id, lambda n=name: core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={n}")
        )
        counts[name] = sum(1 for p in pods.items if _node_bound(p) and not _node_local(p))
    return counts


# ---- the plan: which nodes' pods fit on the rest


@dataclass(frozen=True)
class Demand:
    """A pod to be placed elsewhere: a moving one, or the one extra a rolling restart surges."""

    what: str
    node: str
    need: dict[str, float]
    selector: dict[str, str]
    tolerations: tuple = ()
    deployment: tuple[str, str] | None = None


@dataclass
class Plan:
    draining: list[str] = field(default_factory=list)
    stuck: dict[str, str] = field(default_factory=dict)


def _requests(pod: client.V1Pod) -> dict[str, float]:
    total = {"cpu": 0.0, "memory": 0.0, GPU: 0.0, SRIOV: 0.0, HUGEPAGES: 0.0, "pods": 1.0}
    for c in pod.spec.containers:
        for k, v in ((c.resources and c.resources.requests) or {}).items():
            if k in total:
                total[k] += quantity(v)
    return total


def _tolerates(tolerations: tuple, taint: client.V1Taint) -> bool:
    for t in tolerations:
        key_ok = t.key == taint.key or (not t.key and t.operator == "Exists")
        value_ok = t.operator == "Exists" or (t.value or "") == (taint.value or "")
        if key_ok and value_ok and (not t.effect or t.effect == taint.effect):
            return True
    return False


def _accepts(node: client.V1Node, d: Demand) -> bool:
    labels = node.metadata.labels or {}
    if any(labels.get(k) != v for k, v in d.selector.items()):
        return False
    # The unschedulable taint only mirrors spec.unschedulable, and lags it (the node lifecycle
    # controller writes it): whether a node is open is decided from the spec, not from it.
    taints = [t for t in (node.spec.taints or [])
              if t.effect in ("NoSchedule", "NoExecute") and t.key != "node.kubernetes.io/unschedulable"]  # fmt: skip
    return all(_tolerates(d.tolerations, t) for t in taints)


def _pack(demands: list[Demand], room: dict[str, dict[str, float]], nodes: dict[str, client.V1Node]) -> Demand | None:
    """Best fit, largest first (on a copy of `room`): the first demand that fits nowhere, or None."""
    room = {n: dict(r) for n, r in room.items()}
    for d in sorted(demands, key=lambda d: (-d.need[GPU], -d.need["cpu"], -d.need["memory"], d.what)):
        fits = [
            n for n, r in room.items() if _accepts(nodes[n], d) and all(r[k] >= v - 1e-9 for k, v in d.need.items())
        ]
        if not fits:
            return d
        best = min(fits, key=lambda n: (room[n]["cpu"] - d.need["cpu"], n))
        for k, v in d.need.items():
            room[best][k] -= v
    return None


def _why(d: Demand) -> str:
    size = f"{d.need['cpu']:g} CPU, {d.need['memory'] / 2**20:g} MiB" + (
        f", {d.need[GPU]:g} GPU" if d.need[GPU] else ""
    )
    if d.what.startswith("surge:"):
        return f"the rolling restart of deployment {d.what[6:]} needs room for one more pod ({size}) on the other nodes"
    where = f" with {d.selector}" if d.selector else ""
    return f"pod {d.what} ({size}) fits on no remaining node{where}"


def _size(demands: list[Demand]) -> tuple[float, float, float]:
    return tuple(sum(d.need[k] for d in demands) for k in (GPU, "cpu", "memory"))  # type: ignore[return-value]


def plan(
    nodes: dict[str, client.V1Node],
    pods: list[client.V1Pod],
    candidates: list[str],
    reopen: set[str],
    committed: set[str],
    deployment_of: dict[tuple[str, str], tuple[str, str]],
) -> Plan:
    """Which candidates can be emptied together, packing their pods on paper onto the nodes that
    stay open. While they do not all fit, one node is declared stuck and the rest packed again: a
    stuck node stays open (if it is in `reopen`, the nodes this drain cordoned), so its free room
    joins the rest. The one chosen is, among nodes whose own pods fit nowhere even alone, the one
    holding the most (it frees the most room and keeps the most load where it is); else the node
    of the first pod the joint packing could not place. A rolling restart (maxSurge 1,
    maxUnavailable 0) holds one pod more than the Deployment's replicas at its peak, so a restarted
    Deployment that also has pods on nodes that stay adds one pod to the demand; one whose pods are
    all leaving never has more on the other nodes than its moving pods. Nodes
    `committed` by an earlier attempt of the same drain are already being emptied: they count as
    demand and are never turned back."""
    room: dict[str, dict[str, float]] = {}
    for name, n in nodes.items():
        alloc = n.status.allocatable or {}
        room[name] = {k: quantity(alloc.get(k, "0")) for k in ROOM}
    by_node: dict[str, list[Demand]] = {c: [] for c in candidates}
    on_nodes: dict[tuple[str, str], set[str]] = {}  # Deployment -> the nodes its live pods are on
    for p in pods:
        if not _node_bound(p) or p.spec.node_name not in room:
            continue
        need = _requests(p)
        for k, v in need.items():
            room[p.spec.node_name][k] -= v
        if _node_local(p) or p.metadata.deletion_timestamp is not None:
            continue
        rs = next((o.name for o in p.metadata.owner_references or [] if o.kind == "ReplicaSet"), None)
        owner = deployment_of.get((p.metadata.namespace, rs)) if rs else None
        if owner is not None:
            on_nodes.setdefault(owner, set()).add(p.spec.node_name)
        if p.spec.node_name in by_node:
            by_node[p.spec.node_name].append(Demand(
                what=f"{p.metadata.namespace}/{p.metadata.name}", node=p.spec.node_name, need=need,
                selector=dict(p.spec.node_selector or {}), tolerations=tuple(p.spec.tolerations or ()),
                deployment=owner))  # fmt: skip
    open_nodes = {n for n, node in nodes.items() if not node.spec.unschedulable and n not in by_node}
    result = Plan()

    def demand(active: list[str]) -> list[Demand]:
        surge: dict[tuple[str, str], Demand] = {}
        for n in active:  # the last node holding a Deployment's pods answers for its surge
            for d in by_node[n]:
                if d.deployment is not None and not on_nodes[d.deployment] <= set(active):
                    surge[d.deployment] = Demand(f"surge:{'/'.join(d.deployment)}", n, d.need, d.selector,
                                                 d.tolerations, d.deployment)  # fmt: skip
        return [d for n in active for d in by_node[n]] + list(surge.values())

    while True:
        active = [c for c in candidates if c not in result.stuck]
        free = {n: room[n] for n in open_nodes | (set(result.stuck) & reopen)}
        failed = _pack(demand(active), free, nodes)
        if failed is None or all(n in committed for n in active):
            result.draining = active
            return result
        hopeless = {n: d for n in active if n not in committed and (d := _pack(demand([n]), free, nodes)) is not None}
        if hopeless:
            victim = max(hopeless, key=lambda n: _size(demand([n])))
            result.stuck[victim] = _why(hopeless[victim])
        else:
            victim = failed.node if failed.node not in committed else [n for n in active if n not in committed][-1]
            result.stuck[victim] = _why(failed)


# ---- acting


async def _patch_node(cluster_id: str, core: client.CoreV1Api, name: str, body: dict) -> None:
    await call_or_none(cluster_id, lambda: core.patch_node(name, body, _content_type=MERGE))


async def drain(
    cluster_id: str, core: client.CoreV1Api, apps: client.AppsV1Api, op_id: str, names: list[str], partial: bool
) -> DrainResult:
    """Cordon, plan, then move make-before-break what can move (see the module's docstring).
    Returns at once: the caller follows the drain with `busy`. Calling it again with the same
    op id is safe and picks up stragglers (a pod bound to a node just as it was cordoned): the
    Deployments it already restarted see the same annotation and do not restart again."""
    tag = drain_tag(op_id)
    nodes = {n.metadata.name: n for n in (await call(cluster_id, core.list_node)).items}
    candidates = [n for n in dict.fromkeys(names) if n in nodes]
    if not candidates:
        return DrainResult()
    committed = {n for n in candidates if (nodes[n].metadata.annotations or {}).get(DRAINING) == tag}
    # Cordon first, so nothing new lands on the nodes while their pods are counted.
    for n in candidates:
        if not nodes[n].spec.unschedulable:
            await _patch_node(cluster_id, core, n, {"metadata": {"annotations": {CORDONED: tag}},
                                                    "spec": {"unschedulable": True}})  # fmt: skip
    mine = [n for n in candidates if not nodes[n].spec.unschedulable
            or (nodes[n].metadata.annotations or {}).get(CORDONED) == tag]  # fmt: skip
    nodes = {n.metadata.name: n for n in (await call(cluster_id, core.list_node)).items}
    pods = (await call(cluster_id, core.list_pod_for_all_namespaces)).items
    deployments = {(d.metadata.namespace, d.metadata.name): d for d in (await call(
        cluster_id, lambda: apps.list_deployment_for_all_namespaces(label_selector=SELECTOR))).items}  # fmt: skip
    deployment_of = {}
    for rs in (await call(cluster_id, lambda: apps.list_replica_set_for_all_namespaces(label_selector=SELECTOR))).items:
        owner = next((o.name for o in rs.metadata.owner_references or [] if o.kind == "Deployment"), None)
        if (rs.metadata.namespace, owner) in deployments:
            deployment_of[(rs.metadata.namespace, rs.metadata.name)] = (rs.metadata.namespace, owner)
    decided = plan(nodes, pods, candidates, set(mine), committed, deployment_of)
    uncordon = {"metadata": {"annotations": {CORDONED: None}}, "spec": {"unschedulable": None}}
    if decided.stuck and not partial:
        for n in mine:
            if n not in committed:  # an earlier attempt's nodes are mid-drain: reopening them helps no one
                await _patch_node(cluster_id, core, n, uncordon)
        stuck = list(decided.stuck)
        raise CapacityExhausted(
            f"cluster {cluster_id}: cannot remove nodes {stuck}: "
            + "; ".join(f"{n}: {why}" for n, why in decided.stuck.items()),
            resources=[f"host:{n}" for n in stuck],
        )
    for n in decided.stuck:
        if n in mine:
            await _patch_node(cluster_id, core, n, uncordon)
    for n in decided.draining:
        await _patch_node(cluster_id, core, n, {"metadata": {"annotations": {DRAINING: tag}}})

    leaving = set(decided.draining)
    moving = [p for p in pods if p.spec.node_name in leaving and _node_bound(p) and not _node_local(p)
              and p.metadata.deletion_timestamp is None]  # fmt: skip
    restart, evict = set(), []
    for p in moving:
        rs = next((o.name for o in p.metadata.owner_references or [] if o.kind == "ReplicaSet"), None)
        if rs is not None and (p.metadata.namespace, rs) in deployment_of:
            restart.add(deployment_of[(p.metadata.namespace, rs)])
        else:
            evict.append(p)
    for ns, name in sorted(restart):
        annotations = deployments[(ns, name)].spec.template.metadata.annotations or {}
        if annotations.get(DRAINING) != tag:
            body = {"spec": {"template": {"metadata": {"annotations": {DRAINING: tag}}}}}
            await call_or_none(cluster_id, lambda ns=ns, name=name, body=body: apps.patch_namespaced_deployment(
                name, ns, body, field_manager=DRAIN_MANAGER, _content_type=MERGE))  # fmt: skip
    blocked = []
    for p in evict:
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": p.metadata.name, "namespace": p.metadata.namespace}}  # fmt: skip
        try:
            await call_or_none(cluster_id, lambda p=p, e=eviction: core.create_namespaced_pod_eviction(
                p.metadata.name, p.metadata.namespace, e))  # fmt: skip
        except TransientFault as err:  # 429: a disruption budget holds the pod for now
            blocked.append(f"{p.metadata.namespace}/{p.metadata.name} ({err})")
    if blocked:
        # Everything else is under way; the retry (same op id) restarts nothing and evicts again.
        raise TransientFault(f"cluster {cluster_id}: eviction refused for now: {'; '.join(blocked)}")
    return DrainResult(draining=decided.draining, stuck=list(decided.stuck), reasons=decided.stuck)


async def remove(cluster_id: str, core: client.CoreV1Api, names: list[str]) -> None:
    """Delete nodes that hold no pod (see `closed_empty`)."""
    for n in await closed_empty(cluster_id, core, names):
        await call_or_none(cluster_id, lambda n=n: core.delete_node(n))


async def closed_empty(cluster_id: str, core: client.CoreV1Api, names: list[str]) -> list[str]:
    """The nodes among `names` that exist, cordoned and holding no pod, ready to go; TransientFault
    (and the nodes as they were) if any still holds one. A node still open is cordoned before it is
    counted again, so no pod can land on it between the count and its removal (a pod on a removed
    node is lost); a pod that landed meanwhile gives the nodes back open."""
    nodes = {n.metadata.name: n for n in (await call(cluster_id, core.list_node)).items}
    gone = [n for n in dict.fromkeys(names) if n in nodes]
    held = {n: c for n, c in (await busy(cluster_id, core, gone)).items() if c}
    if not held:
        opened = [n for n in gone if not nodes[n].spec.unschedulable]
        for n in opened:
            await _patch_node(cluster_id, core, n, {"spec": {"unschedulable": True}})
        held = {n: c for n, c in (await busy(cluster_id, core, opened)).items() if c}
        if held:  # something was scheduled meanwhile: give the nodes back as they were
            for n in opened:
                await _patch_node(cluster_id, core, n, {"spec": {"unschedulable": None}})
    if held:
        raise TransientFault(f"cluster {cluster_id}: " + "; ".join(
            f"node {n} still runs {c} pods; its drain is under way" for n, c in held.items()))  # fmt: skip
    return gone
