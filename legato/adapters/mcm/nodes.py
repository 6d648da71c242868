"""Nodes of a Kubernetes cluster as Legato sees them: a Node per host, labelled with its site and
hardware features (what the WDM's node selectors match), and a drain that refuses up front when
the remaining nodes cannot hold the evicted pods."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kubernetes import client

from legato.adapters.errors import CapacityExhausted, TransientFault
from legato.adapters.kube import APPLY, FIELD_MANAGER, MANAGED_BY, call, call_or_none
from legato.adapters.wdm.kubernetes import FEATURE_LABEL, GPU
from legato.model import Host

HOST_LABEL = "legato.io/host"
KWOK_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}


def kwok_node(host: Host) -> dict[str, Any]:
    """A Node that kwok's controller keeps Ready and whose pods it runs, sized like the host."""
    capacity = {"cpu": f"{host.cpu:g}", "memory": f"{host.memory_mb}Mi", "pods": "110"}
    if host.gpu:
        capacity[GPU] = str(host.gpu)
    labels = {**MANAGED_BY, HOST_LABEL: host.id, "legato.io/site": host.site, "kubernetes.io/hostname": host.id,
              "type": "kwok"} | {f"{FEATURE_LABEL}{f}": "true" for f in host.features}  # fmt: skip
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": host.id, "labels": labels, "annotations": KWOK_ANNOTATION},
        "status": {"capacity": capacity, "allocatable": capacity},
    }  # fmt: skip


async def node_names(cluster_id: str, core: client.CoreV1Api) -> list[str]:
    nodes = await call(cluster_id, lambda: core.list_node(label_selector=HOST_LABEL))
    return sorted(n.metadata.name for n in nodes.items)


async def create_nodes(cluster_id: str, core: client.CoreV1Api, hosts: list[Host]) -> None:
    for host in hosts:
        await call(cluster_id, lambda h=host: core.patch_node(h.id, kwok_node(h), field_manager=FIELD_MANAGER,
                                                              force=True, _content_type=APPLY))  # fmt: skip
        # The status is a subresource: apply it too, or a new Node has no capacity until kwok's first beat.
        await call(cluster_id, lambda h=host: core.patch_node_status(h.id, kwok_node(h), field_manager=FIELD_MANAGER,
                                                                     force=True, _content_type=APPLY))  # fmt: skip


def _requests(pod: client.V1Pod) -> dict[str, float]:
    total = {"cpu": 0.0, "memory": 0.0, GPU: 0.0}
    for c in pod.spec.containers:
        for k, v in ((c.resources and c.resources.requests) or {}).items():
            if k in total:
                total[k] += quantity(v)
    return total


def quantity(v: str) -> float:
    """Kubernetes quantities, as far as Legato writes them (m, Ki/Mi/Gi, plain numbers)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda u: -len(u[0])):
        if v.endswith(suffix):
            return float(v[: -len(suffix)]) * factor
    return float(v)


async def drain(cluster_id: str, core: client.CoreV1Api, gone: list[str], timeout: float = 120) -> None:
    """Check the evicted pods fit the remaining nodes (else CapacityExhausted, nothing changed),
    cordon, evict, and wait until the nodes are empty (their ReplicaSets start them elsewhere)."""
    nodes = {n.metadata.name: n for n in (await call(cluster_id, core.list_node)).items}
    pods = [p for p in (await call(cluster_id, core.list_pod_for_all_namespaces)).items
            if p.spec.node_name and p.metadata.deletion_timestamp is None]  # fmt: skip
    free = {
        name: {k: quantity(n.status.allocatable.get(k, "0")) for k in ("cpu", "memory", GPU)}
        for name, n in nodes.items() if name not in gone and not n.spec.unschedulable
    }  # fmt: skip
    for p in pods:
        if p.spec.node_name in free:
            for k, v in _requests(p).items():
                free[p.spec.node_name][k] -= v
    moving = [p for p in pods if p.spec.node_name in gone]
    for p in moving:
        need, selector = _requests(p), p.spec.node_selector or {}
        fits = [n for n, room in free.items()
                if all(room[k] >= v for k, v in need.items())
                and all((nodes[n].metadata.labels or {}).get(k) == v for k, v in selector.items())]  # fmt: skip
        if not fits:
            raise CapacityExhausted(
                f"cluster {cluster_id}: cannot remove nodes {gone}: pod {p.metadata.name} would not fit on the rest"
            )
        for k, v in need.items():
            free[fits[0]][k] -= v
    for name in gone:
        await call_or_none(cluster_id, lambda n=name: core.patch_node(n, {"spec": {"unschedulable": True}}))
    for p in moving:
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": p.metadata.name, "namespace": p.metadata.namespace}}  # fmt: skip
        await call_or_none(cluster_id, lambda p=p, e=eviction: core.create_namespaced_pod_eviction(
            p.metadata.name, p.metadata.namespace, e))  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        left = [p.metadata.name for p in (await call(cluster_id, core.list_pod_for_all_namespaces)).items
                if p.spec.node_name in gone]  # fmt: skip
        if not left:
            return
        if time.monotonic() > deadline:
            raise TransientFault(f"cluster {cluster_id}: pods {left} still on nodes {gone} after {timeout:g} s")
        await asyncio.sleep(0.5)
