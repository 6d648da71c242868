"""Tenants inside a cluster: one namespace per service, its ResourceQuota sized from what placement
granted the service's workloads there, and a default-deny NetworkPolicy with one rule per workload
admitting the service's own links.

Why a namespace per *service*, not per tenant: what placement grants, it grants to a service (its
replicas on that cluster), and one service's operations run one at a time, so the namespace's quota
has a single writer per operation and can be exactly the grant; a tenant's namespace would be
written by all its services at once and would hold the sum of grants made at different times. Two
tenants never share a namespace (a service has one tenant), and removing a service's last workload
on a cluster deletes its namespace and nothing else: no call ever touches a namespace not labelled
as that service's.

The quota's grant is kept in an annotation of the ResourceQuota itself (a ledger: workload ->
replicas and what one replica requests), changed by compare-and-swap on its resourceVersion, so the
service's components deployed in parallel onto one cluster never lose each other's grant. The hard
limits are the ledger's sum with one more replica per workload: the surge of a rolling update or a
drain (maxSurge 1). The API server's quota admission then refuses any pod beyond it, whoever
creates it, with its own reason (`exceeded quota: ...`), which the WDM reports as the workload's
`refused`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from typing import Any

from kubernetes import client

from legato.adapters.errors import TransientFault
from legato.adapters.kube import APPLY, FIELD_MANAGER, MANAGED_BY, call, call_or_none
from legato.adapters.wdm.hardware import EXTENDED, pod_amounts
from legato.adapters.wdm.helm import release_name
from legato.model.workloads import WorkloadSpec

PREFIX = "legato-"
SECRETS_PREFIX = "legato-secrets-"
QUOTA = "legato-grant"
GRANTS = "legato.io/grants"
DEFAULT_DENY = "legato-default-deny"
SERVICE = "legato.io/service"
TENANT = "legato.io/tenant"
COMPONENT = "legato.io/component"
WORKLOAD = "legato.io/workload"
INSTANCE = "app.kubernetes.io/instance"  # Helm's release label on a chart's pods
CAS_TRIES = 20
TERMINATING_WAIT_SECONDS = 60.0


def _label(prefix: str, name: str) -> str:
    """`prefix + name` as a DNS-1123 label (63 at most): a name too long or not a label keeps a
    readable head and gets a hash of the whole, so two names never meet."""
    full = prefix + name
    if len(full) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", full):
        return full
    head = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[: 63 - len(prefix) - 9].strip("-")
    return f"{prefix}{head}-{hashlib.sha256(name.encode()).hexdigest()[:8]}".replace("--", "-")


def service_namespace(service_id: str) -> str:
    """The namespace of a service on every cluster it runs on."""
    return _label(PREFIX, service_id)


def tenant_secrets_namespace(tenant: str) -> str:
    """Where a tenant's Kubernetes Secrets that its services refer to (`secretRef.kubernetes`) live
    on a cluster: created by the tenant or the operator, only ever read by Legato."""
    return _label(SECRETS_PREFIX, tenant)


def namespace(spec: WorkloadSpec) -> dict[str, Any]:
    labels = {**MANAGED_BY, SERVICE: _label("", spec.service_id), TENANT: _label("", spec.tenant)}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": service_namespace(spec.service_id),
                                                                   "labels": labels}}


def grant_of(spec: WorkloadSpec, replicas: int | None = None) -> dict[str, Any]:
    return {"replicas": spec.replicas if replicas is None else replicas,
            "pod": pod_amounts(spec.cpu, spec.memory_mb, spec.gpu, spec.features)}


def hard_limits(grants: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The ledger's sum, one surge replica more per workload. Extended resources the service was not
    granted are capped at 0, so a pod asking for a GPU it was not placed for is refused too."""
    total: dict[str, int] = {"cpu": 0, "memory": 0, "pods": 0} | dict.fromkeys(EXTENDED, 0)
    for g in grants.values():
        n = g["replicas"] + 1
        total["pods"] += n
        for k, v in g["pod"].items():
            total[k] = total.get(k, 0) + n * v
    cpu, memory = f"{total['cpu']}m", f"{total['memory']}Mi"
    hard = {"pods": str(total["pods"]), "requests.cpu": cpu, "limits.cpu": cpu, "requests.memory": memory,
            "limits.memory": memory}
    hard |= {f"requests.{k}": (f"{total[k]}Gi" if k.startswith("hugepages-") else str(total[k])) for k in EXTENDED}
    return hard


def quota(ns: str, grants: dict[str, dict[str, Any]], resource_version: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": QUOTA, "namespace": ns, "labels": dict(MANAGED_BY),
                            "annotations": {GRANTS: json.dumps(grants, sort_keys=True)}}
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta, "spec": {"hard": hard_limits(grants)}}


def grants_in(q: client.V1ResourceQuota | None) -> dict[str, dict[str, Any]]:
    if q is None:
        return {}
    return json.loads((q.metadata.annotations or {}).get(GRANTS, "{}"))


def default_deny(ns: str) -> dict[str, Any]:
    """No pod of the namespace takes traffic unless a workload's own policy admits it. Egress is left
    open (DNS, the service's components at other sites, Vault)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": DEFAULT_DENY, "namespace": ns, "labels": dict(MANAGED_BY)},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


def workload_policy(spec: WorkloadSpec, ns: str, ports: list[int]) -> dict[str, Any]:
    """Admits, on the workload's ports, the pods of the components linked to it (the service's own,
    in its namespace); a published workload (a user area's entry, a link's target) admits any source
    on them, as its published endpoint does anyway. Other tenants' pods are never admitted to an
    unpublished one."""
    # A chart's Services say which ports its pods serve (one per interface), not the component's `ports`.
    port_list = [{"protocol": "TCP", "port": p} for p in ports] if spec.chart is None else []
    rules: list[dict[str, Any]] = []
    if spec.published:
        rules.append({"ports": port_list} if port_list else {})
    elif spec.ingress_from:
        source = {"podSelector": {"matchExpressions": [{"key": COMPONENT, "operator": "In",
                                                        "values": sorted(spec.ingress_from)}]}}
        # A chart's pods carry the chart's labels, not Legato's: the service's chart pods (Helm's instance
        # label, no Legato workload label), in its own namespace, are admitted as linked components too.
        charts = {"podSelector": {"matchExpressions": [{"key": INSTANCE, "operator": "Exists"},
                                                       {"key": WORKLOAD, "operator": "DoesNotExist"}]}}
        rules.append({"from": [source, charts], **({"ports": port_list} if port_list else {})})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": spec.id, "namespace": ns, "labels": {**MANAGED_BY, WORKLOAD: spec.id}},
            "spec": {"podSelector": pods_of(spec), "policyTypes": ["Ingress"], "ingress": rules}}


def pods_of(spec: WorkloadSpec) -> dict[str, Any]:
    """A workload's pods as a label selector: Legato's workload label on a Deployment's pods; for a
    chart's release, Helm's `app.kubernetes.io/instance: <release>`, which charts following Helm's
    conventions (every chart `helm create` makes, the ones in deploy/charts) put on their pods."""
    if spec.chart is not None:
        return {"matchLabels": {INSTANCE: release_name(spec.id)}}
    return {"matchLabels": {WORKLOAD: spec.id}}


APPLY_OPTS = {"field_manager": FIELD_MANAGER, "force": True, "_content_type": APPLY}


async def ensure_namespace(cluster_id: str, core: client.CoreV1Api, net: client.NetworkingV1Api,
                           spec: WorkloadSpec) -> str:
    """The service's namespace and its default-deny policy (server-side apply: a retry changes nothing)."""
    body = namespace(spec)
    ns = body["metadata"]["name"]
    await _not_terminating(cluster_id, core, ns)
    await call(cluster_id, lambda: core.patch_namespace(ns, body, **APPLY_OPTS))
    await call(cluster_id, lambda: net.patch_namespaced_network_policy(DEFAULT_DENY, ns, default_deny(ns),
                                                                       **APPLY_OPTS))  # fmt: skip
    return ns


async def _not_terminating(cluster_id: str, core: client.CoreV1Api, ns: str) -> None:
    """The service's namespace may be on its way out (its last workload here just removed, a new one
    coming, as in a rollback then a new placement): wait until it is gone, then it is made anew. Past
    the wait, a TransientFault: the activity is retried."""
    deadline = time.monotonic() + TERMINATING_WAIT_SECONDS
    while time.monotonic() < deadline:
        found = await call_or_none(cluster_id, lambda: core.read_namespace(ns))
        if found is None or found.status is None or found.status.phase != "Terminating":
            return
        await asyncio.sleep(0.5)
    raise TransientFault(f"cluster {cluster_id}: namespace {ns} is still being deleted")


async def apply_policy(cluster_id: str, net: client.NetworkingV1Api, spec: WorkloadSpec, ns: str) -> None:
    body = workload_policy(spec, ns, spec.ports)
    await call(cluster_id, lambda: net.patch_namespaced_network_policy(spec.id, ns, body, **APPLY_OPTS))


async def set_grant(cluster_id: str, core: client.CoreV1Api, ns: str, workload_id: str,
                    grant: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Put (or, with None, drop) one workload's grant in the namespace's quota, by compare-and-swap:
    a concurrent writer makes the replace fail with 409 and this one reads again. Returns the ledger
    after. Unchanged ledgers are not written (a retried call is free)."""
    for _ in range(CAS_TRIES):
        current = await call_or_none(cluster_id, lambda: core.read_namespaced_resource_quota(QUOTA, ns))
        grants = grants_in(current)
        if grants.get(workload_id) == grant:
            return grants
        if grant is None:
            grants.pop(workload_id, None)
        else:
            grants[workload_id] = grant
        try:
            if current is None:
                body = quota(ns, grants)
                await call(cluster_id, lambda b=body: core.create_namespaced_resource_quota(ns, b))
            else:
                body = quota(ns, grants, current.metadata.resource_version)
                await call(cluster_id, lambda b=body: core.replace_namespaced_resource_quota(QUOTA, ns, b))
            return grants
        except TransientFault as err:
            if " 409 " not in f" {err} ":
                raise
    raise TransientFault(f"cluster {cluster_id}: namespace {ns}: its quota kept changing under {CAS_TRIES} writes")


async def drop_namespace_if_empty(cluster_id: str, core: client.CoreV1Api, ns: str, service_label: str) -> bool:
    """Once no workload of the service holds a grant there, its namespace goes (with its quota, policies and
    Secrets). Only a namespace labelled as this service's, by Legato, is ever deleted."""
    found = await call_or_none(cluster_id, lambda: core.read_namespace(ns))
    labels = (found.metadata.labels or {}) if found is not None else {}
    if found is None or labels.get(SERVICE) != service_label or labels.items() < MANAGED_BY.items():
        return False
    if grants_in(await call_or_none(cluster_id, lambda: core.read_namespaced_resource_quota(QUOTA, ns))):
        return False
    await call_or_none(cluster_id, lambda: core.delete_namespace(ns, propagation_policy="Background"))
    return True
