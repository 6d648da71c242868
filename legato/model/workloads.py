"""Workloads as the WDM and the workflows speak of them: what to run, and what runs."""

from __future__ import annotations

from pydantic import BaseModel, Field

from legato.model.charts import ChartSource
from legato.model.service import SecretRef


class WorkloadSpec(BaseModel):
    id: str
    service_id: str
    tenant: str
    component: str
    image: str
    version: str
    replicas: int
    cpu: float
    memory_mb: int
    gpu: int = 0
    features: list[str] = Field(default_factory=list)
    ports: list[int] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, SecretRef] = Field(default_factory=dict, description="references only: the backend "
                                             "resolves them in the target cluster")
    ingress_from: list[str] = Field(default_factory=list, description="the service's components linked to this "
                                    "one: the pods its network policy admits")
    published: bool = Field(default=False, description="reached from outside its cluster (a user area's entry or "
                            "a link's target): its ports admit traffic from outside the cluster")
    labels: dict[str, str] = Field(default_factory=dict)
    chart: ChartSource | None = Field(default=None, description="a Helm chart to install as one release (its "
                                      "version is `version`; `image` is empty)")
    prefer_nodes: list[str] = Field(
        default_factory=list, description="the node placement reserved for each replica, in order: a hint the "
        "backend's scheduler follows where it can (the sim tries it first; Kubernetes: preferred node affinity)")


class WorkloadStatus(BaseModel):
    id: str
    cluster: str
    component: str
    service_id: str
    version: str
    replicas: int
    ready_replicas: int
    endpoint: str | None = None
    nodes: dict[str, int] = Field(default_factory=dict,
                                  description="replicas (pods) running now per node, ready or not: what each holds")
    serving: dict[str, int] = Field(default_factory=dict, description="ready replicas taking traffic now, per version "
                                    "(old ones a rollout has not replaced yet included)")
    updated_replicas: int = Field(default=0, description="ready replicas on the target version")
    refused: str | None = Field(default=None, description="why the cluster refuses to create replicas (the API "
                                "server's own words, e.g. a namespace quota exceeded): a readiness wait fails on it")
    revision: int | None = Field(default=None, description="a chart's release: the revision serving now (each "
                                 "install, upgrade, scale and rollback makes one); None for a plain workload")
    lowest_serving: int | None = Field(default=None, description="set by a readiness wait: the fewest replicas it "
                                       "saw serving while it polled (a sample, where no history is kept)")

    @property
    def ready(self) -> bool:
        return self.ready_replicas >= self.replicas


class ServingHistory(BaseModel):
    """How a component served over a window, from a backend that records every replica's life."""

    min_ready: int
    path_connected: bool | None = None


class WorkloadMetrics(BaseModel):
    """What a canary's health gate reads: the share of failed requests over the recent window."""

    id: str
    version: str
    error_rate: float
    requests: int = 0
