"""Inventory tables. JSON columns hold small nested lists the API returns as they are. Which module
writes each table, and for which owner: legato/inventory/facade.py; which layer: docs/design.md."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from legato.model.components import ComponentRecord


def utcnow() -> datetime:
    return datetime.now(UTC)


class SiteRow(SQLModel, table=True):
    __tablename__ = "sites"
    id: str = Field(primary_key=True)
    tier: str
    provider: str
    region: str
    country: str
    lat: float
    lon: float
    cost_per_vcpu_hour: float
    energy_price_kwh: float
    carbon_g_per_kwh: float


class AreaRow(SQLModel, table=True):
    __tablename__ = "areas"
    id: str = Field(primary_key=True)
    region: str = ""
    lat: float
    lon: float


class LatencyRow(SQLModel, table=True):
    """One-way latency and available bandwidth between two sites, or an area and a site."""

    __tablename__ = "latencies"
    a: str = Field(primary_key=True)  # site id, or area id when kind == "area"
    b: str = Field(primary_key=True)  # site id
    kind: str = Field(primary_key=True)  # site | area
    ms: float
    bandwidth_mbps: float | None = None


class HostRow(SQLModel, table=True):
    __tablename__ = "hosts"
    id: str = Field(primary_key=True)
    site: str = Field(index=True)
    cpu: float
    memory_mb: int
    gpu: int = 0
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    state: str = "free"  # free | reserved | allocated
    cluster: str | None = None
    service_id: str | None = Field(default=None, index=True)  # a service, or a shared cluster's pool
    allocation_op: str | None = None
    reservation: str | None = Field(default=None, index=True)  # the placement holding it (state reserved)


class ClusterRow(SQLModel, table=True):
    __tablename__ = "clusters"
    id: str = Field(primary_key=True)
    site: str = Field(index=True)
    shared: bool = True
    service_id: str | None = Field(default=None, index=True)
    kubernetes_version: str = ""  # read from the cluster (its /version), refreshed by every MCM call and reconcile
    node_versions: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))  # each node's kubelet
    hosts: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class ClusterOperationRow(SQLModel, table=True):
    """The one operation running on a cluster (an upgrade), alone on it: claimed by its workflow
    before it acts, given back when it ends (cluster_operations.py)."""

    __tablename__ = "cluster_operations"
    cluster_id: str = Field(primary_key=True)
    kind: str
    since: datetime = Field(default_factory=utcnow)
    workflow_id: str
    detail: str = ""


class ClusterScalingRow(SQLModel, table=True):
    """A ScaleCluster run under way on a cluster: many may run at once (services growing a shared
    cluster), but none while an upgrade holds the cluster, and no upgrade starts while one runs
    (cluster_operations.py)."""

    __tablename__ = "cluster_scalings"
    cluster_id: str = Field(primary_key=True)
    workflow_id: str = Field(primary_key=True)
    since: datetime = Field(default_factory=utcnow)


class ServiceRow(SQLModel, table=True):
    __tablename__ = "services"
    id: str = Field(primary_key=True)
    tenant: str = Field(index=True)
    name: str
    state: str = Field(index=True)
    spec: dict = Field(default_factory=dict, sa_column=Column(JSON))
    placement: dict | None = Field(default=None, sa_column=Column(JSON))
    endpoints: list = Field(default_factory=list, sa_column=Column(JSON))
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ComponentRow(SQLModel, ComponentRecord, table=True):
    """A deployed component: where it runs and what it holds (cluster room is derived from these).
    Its columns are ComponentRecord's fields; only the keys and the index are declared here."""

    __tablename__ = "components"
    service_id: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    cluster: str = Field(index=True)


class ConnectionRow(SQLModel, table=True):
    __tablename__ = "connections"
    id: str = Field(primary_key=True)
    service_id: str = Field(index=True)
    kind: str  # link | qos
    description: str
    latency_ms: float


class OperationRow(SQLModel, table=True):
    """Operations log: every step of every workflow, in order, with its outcome."""

    __tablename__ = "operations"
    id: int | None = Field(default=None, primary_key=True)
    service_id: str = Field(index=True)
    op_id: str
    step: str
    outcome: str  # started | done | failed | compensated
    detail: str = ""
    at: datetime = Field(default_factory=utcnow)


class ServiceOperationRow(SQLModel, table=True):
    """Day-2 operations: who asked what, when, how it ended and how long it took."""

    __tablename__ = "service_operations"
    request_id: str = Field(primary_key=True)
    service_id: str = Field(index=True)
    kind: str
    component: str | None = None
    params: dict = Field(default_factory=dict, sa_column=Column(JSON))
    requested_by: str = ""
    state: str
    detail: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    continuity: dict | None = Field(default=None, sa_column=Column(JSON))


class FindingRow(SQLModel, table=True):
    """What reconciliation found: drift it repaired, or something it must not touch (reported)."""

    __tablename__ = "findings"
    id: str = Field(primary_key=True)  # kind + resource: the same drift seen again updates one row
    kind: str  # workload-missing | workload-short | connection-missing | orphan-* | host-powered-off
    service_id: str | None = Field(default=None, index=True)
    resource: str
    detail: str
    action: str  # repair-requested | reported
    first_seen: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None


class ProposalRow(SQLModel, table=True):
    """A move the rebalancer found worth making; at most one pending per service."""

    __tablename__ = "proposals"
    id: str = Field(primary_key=True)
    service_id: str = Field(index=True)
    tenant: str = Field(index=True)
    component: str
    from_site: str
    to_site: str
    current_score: float | None = None
    new_score: float
    gain: float
    reason: str
    state: str = Field(index=True)  # pending | approved | rejected | superseded | stale | done | failed
    created_at: datetime = Field(default_factory=utcnow)
    decided_by: str | None = None
    detail: str = ""


class MetaRow(SQLModel, table=True):
    """Small named facts: the continuum's latency model, and the sequence numbers a cached copy of
    the continuum compares with (`continuum-static`: sites and prices; `continuum-dynamic`: hosts
    and clusters)."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: dict | None = Field(default=None, sa_column=Column(JSON))
    seq: int = 0


class SiteVersionRow(SQLModel, table=True):
    """The `continuum-dynamic` sequence number of a site's last host or cluster change."""

    __tablename__ = "site_versions"
    site: str = Field(primary_key=True)
    seq: int = Field(default=0, index=True)


class FederatedPartRow(SQLModel, table=True):
    """A part of a local service that runs at a partner operator (home side)."""

    __tablename__ = "federated_parts"
    request_id: str = Field(primary_key=True)  # ours, deterministic; the partner dedups on it
    service_id: str = Field(index=True)
    partner: str
    remote_id: str = ""
    components: list = Field(default_factory=list, sa_column=Column(JSON))
    state: str = "requested"
    endpoints: list = Field(default_factory=list, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow)


class FederationNonceRow(SQLModel, table=True):
    """Nonces of accepted federation calls, kept until they expire: a replay is refused even after
    a restart (receiving side)."""

    __tablename__ = "federation_nonces"
    issuer: str = Field(primary_key=True)
    nonce: str = Field(primary_key=True)
    expires_at: float = Field(index=True)  # epoch seconds


class ReservationRow(SQLModel, table=True):
    """What a placement decision holds until its steps turn it into allocations: hosts (marked
    `reserved` on their rows), room on cluster nodes and link bandwidth (claims with state
    `reserved`). Named by the placing operation; `workflow_id` is who releases it, so reconcile
    can reclaim what a workflow that is gone left behind."""

    __tablename__ = "reservations"
    op_id: str = Field(primary_key=True)
    workflow_id: str = Field(index=True)
    service_id: str = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow)


class NodeClaimRow(SQLModel, table=True):
    """Room on one node of a cluster held for a component: `reserved` by a placement (holder: its
    op id), or `running` as the WDM last reported it (holder: the workload id). `host` None: on the
    cluster, node unknown (room only counted against the cluster's total)."""

    __tablename__ = "node_claims"
    id: int | None = Field(default=None, primary_key=True)
    cluster: str = Field(index=True)
    host: str | None = None
    service_id: str = Field(index=True)
    component: str
    holder: str = Field(index=True)
    state: str  # reserved | running
    replicas: int
    cpu: float
    memory_mb: int
    gpu: int = 0


class LinkClaimRow(SQLModel, table=True):
    """Bandwidth between two sites held by a link: `reserved` by a placement (holder: its op id) or
    `running` (holder: the connection id). `site_a` < `site_b`: one row per pair, either way."""

    __tablename__ = "link_claims"
    id: int | None = Field(default=None, primary_key=True)
    site_a: str = Field(index=True)
    site_b: str
    service_id: str = Field(index=True)
    holder: str = Field(index=True)
    state: str  # reserved | running
    mbps: float
