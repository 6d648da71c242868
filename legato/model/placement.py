"""A placement decision, with the reasons an operator reads to understand it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Candidate(BaseModel):
    site: str
    score: float | None = None
    reason: str = ""


class ComponentPlacement(BaseModel):
    component: str
    site: str
    cluster: str | None = Field(default=None, description="existing cluster reused, if any")
    score: float
    score_breakdown: dict[str, float] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    rejected: list[Candidate] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list, description="where it ran before a move, and why it was there")


class SitePlan(BaseModel):
    """What provisioning must do at one site so its components fit."""

    site: str
    components: list[str]
    cluster: str | None = Field(default=None, description="existing cluster to reuse")
    add_hosts: list[str] = Field(default_factory=list, description="hosts to allocate")
    action: str = Field(description="reuse | scale | create")
    nodes: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="reuse and scale: replicas of each component per node of the cluster "
        "(new hosts included), as reserved; a new cluster is the service's own and needs none")


class FederatedPlacement(BaseModel):
    """A component that runs at a partner operator instead of here, and why."""

    component: str
    partner: str
    reason: str


class PlacementDecision(BaseModel):
    feasible: bool
    components: list[ComponentPlacement] = Field(default_factory=list, description="placed locally")
    federated: list[FederatedPlacement] = Field(default_factory=list, description="sent to partner operators")
    sites: list[SitePlan] = Field(default_factory=list)
    infeasible_reason: str | None = None
    objective: float | None = None
    proof: Literal["optimal", "optimal-among-candidates", "best-found"] = Field(
        default="best-found", description="what the engine proved: optimal over the whole continuum (infeasible: "
        "that no placement exists); optimal over the candidate sites it considered; or the best it found within "
        "its search budget (infeasible: none found, which does not prove that none exists)")

    def site_of(self, component: str) -> str:
        return next(p.site for p in self.components if p.component == component)
