"""Reachable endpoints: a component's ports published the way the operator chose for the cluster
(the topology's `backend.publish`, per site with per-cluster overrides), and the address users reach
read back from the cluster, every port listed.

| `via` | objects | the endpoint Legato returns, per port |
|---|---|---|
| `node-port` (default) | a NodePort Service | `<address>:<nodePort>`: `publish.address`, else a node's |
| | | ExternalIP, else its InternalIP, else its Hostname |
| `load-balancer` | a LoadBalancer Service | `<ingress ip or hostname>:<port>`, once the cluster's |
| | | load-balancer controller assigned it (none until then) |
| `gateway` | a ClusterIP Service, one HTTPRoute per port | `<component>-<port>.<service>.<hostname>:<gateway_port>` |

A component no user area enters and no link targets is not published: a ClusterIP Service, its
endpoint the cluster IP. An endpoint lists its ports in the order of the component's `ports`,
comma-separated (`host:port,host:port`); the first is the one links and user QoS are wired to."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from legato.adapters.kube import MANAGED_BY
from legato.model import Site
from legato.model.backends import Publication
from legato.model.workloads import WorkloadSpec

GATEWAY_GROUP, GATEWAY_VERSION, ROUTES = "gateway.networking.k8s.io", "v1", "httproutes"
WORKLOAD = "legato.io/workload"
SERVICE_TYPE = {"node-port": "NodePort", "load-balancer": "LoadBalancer", "gateway": "ClusterIP"}


def service(spec: WorkloadSpec, ns: str, labels: dict[str, str], via: Publication) -> dict[str, Any]:
    ports = spec.ports or [80]
    kind = SERVICE_TYPE[via.via] if spec.published else "ClusterIP"
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": spec.id, "namespace": ns, "labels": labels},
        "spec": {"type": kind, "selector": {WORKLOAD: spec.id},
                 "ports": [{"name": f"p{p}", "port": p, "targetPort": p, "protocol": "TCP"} for p in ports]},
    }  # fmt: skip


def route_host(spec: WorkloadSpec, port: int, via: Publication) -> str:
    return f"{spec.component}-{port}.{spec.service_id}.{via.hostname}"


def routes(spec: WorkloadSpec, ns: str, via: Publication) -> list[dict[str, Any]]:
    """One HTTPRoute per port, each its own hostname on the Gateway (only for a published workload)."""
    if via.via != "gateway" or not spec.published:
        return []
    gw_ns, _, gw_name = (via.gateway or "").partition("/")
    return [{
        "apiVersion": f"{GATEWAY_GROUP}/{GATEWAY_VERSION}", "kind": "HTTPRoute",
        "metadata": {"name": f"{spec.id}-p{p}", "namespace": ns, "labels": {**MANAGED_BY, WORKLOAD: spec.id},
                     "annotations": {"legato.io/endpoint": f"{route_host(spec, p, via)}:{via.gateway_port}"}},
        "spec": {"parentRefs": [{"name": gw_name, "namespace": gw_ns}], "hostnames": [route_host(spec, p, via)],
                 "rules": [{"backendRefs": [{"name": spec.id, "port": p}]}]},
    } for p in (spec.ports or [80])]  # fmt: skip


def node_address(nodes: list[client.V1Node]) -> str | None:
    """A node's ExternalIP, else its InternalIP, else its Hostname (the first node by name that has one)."""
    for kind in ("ExternalIP", "InternalIP", "Hostname"):
        for n in sorted(nodes, key=lambda n: n.metadata.name):
            for a in (n.status.addresses or []) if n.status else []:
                if a.type == kind and a.address:
                    return a.address
    return None


def endpoint(svc: client.V1Service | None, via: Publication, nodes: list[client.V1Node] | None = None,
             route_endpoints: list[str] | None = None) -> str | None:
    """The address users reach, every port: None while it has none (a load balancer not assigned yet)."""
    if svc is None or not svc.spec.ports:
        return None
    kind = svc.spec.type or "ClusterIP"
    if route_endpoints:
        return ",".join(route_endpoints)
    if kind == "NodePort":
        host = via.address or node_address(nodes or [])
        ports = [p.node_port for p in svc.spec.ports]
        return ",".join(f"{host}:{p}" for p in ports) if host and all(ports) else None
    if kind == "LoadBalancer":
        ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
        host = next((i.ip or i.hostname for i in ingress if i.ip or i.hostname), None)
        return ",".join(f"{host}:{p.port}" for p in svc.spec.ports) if host else None
    if svc.spec.cluster_ip and svc.spec.cluster_ip != "None":
        return ",".join(f"{svc.spec.cluster_ip}:{p.port}" for p in svc.spec.ports)
    return None


class Publications:
    """Which publication a cluster takes: its own entry in its site's `publish.clusters`, else its
    site's `publish`, else node-port. A cluster Legato created is found by its site (asked of the MCM)."""

    def __init__(self, sites: list[Site], clusters: Any = None) -> None:
        self.sites = {s.id: s for s in sites}
        self.by_cluster: dict[str, Publication] = {}
        self.site_of = {c.id: s.id for s in sites for c in s.clusters}
        for s in sites:
            if s.backend.publish is not None:
                self.by_cluster |= s.backend.publish.clusters
        self.clusters = clusters  # anything with `get_cluster(id)` (the MCM)

    async def of(self, cluster_id: str) -> Publication:
        if cluster_id in self.by_cluster:
            return self.by_cluster[cluster_id]
        site = self.site_of.get(cluster_id)
        if site is None and self.clusters is not None and hasattr(self.clusters, "get_cluster"):
            found = await self.clusters.get_cluster(cluster_id)
            site = found.site if found is not None else None
            if site:
                self.site_of[cluster_id] = site
        publish = self.sites[site].backend.publish if site in self.sites else None
        return Publication(**publish.model_dump(exclude={"clusters"})) if publish is not None else Publication()
