"""Day-2 operation requests: what a client may ask of a running service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, model_validator

from legato.model.intents import SLO, ServiceAutopilot
from legato.model.service import Name, PlacementRules, Policy, Strict, UserArea

RequestId = str


class OperationRequest(Strict):
    request_id: RequestId | None = Field(default=None, max_length=200,
                                         description="idempotency key: a retried call with it never applies twice")
    requested_by: str = ""
    progress_deadline_seconds: float | None = Field(
        default=None, ge=5, le=86_400, description="how long a wait for readiness may take before the operation "
        "fails and undoes itself (default: the service's `progress_deadline_seconds`)")
    outside_window: Literal["wait", "refuse"] | None = Field(
        default=None, description="an upgrade or a move asked outside the maintenance windows that apply (the "
        "service's, its site's, its cluster's): `wait` (the default) for the next one, durably, or `refuse` (409)")


class ScaleRequest(OperationRequest):
    replicas: int = Field(ge=1, le=1000)


class CanaryPolicy(Strict):
    replicas: int = Field(default=1, ge=1, le=100, description="replicas of the new version first")
    max_error_rate: float = Field(default=0.05, ge=0, le=1, description="health gate read from the backend")
    observe_seconds: float = Field(default=10, ge=0, le=3600)


class UpgradeRequest(OperationRequest):
    version: str = Field(min_length=1)
    image: str | None = Field(default=None, min_length=1)
    values: dict[str, Any] | None = Field(
        default=None, description="a chart component's new values, merged over its chart's `values` as Helm "
        "merges (maps key by key, anything else replaced); kept in the spec from then on. With the same `version`, "
        "an upgrade of the values only. Refused for an image component")
    strategy: Literal["rolling", "canary"] = "rolling"
    canary: CanaryPolicy = Field(default_factory=CanaryPolicy)


class KubernetesVersionRequest(OperationRequest):
    version: str = Field(min_length=1, max_length=40, description="the next minor or a later patch of the "
                         "cluster's own, e.g. v1.35.4, one the cluster's MCM offers")


class OwnClusterUpgradeRequest(KubernetesVersionRequest):
    """The Kubernetes version of a cluster of the service's own (created for it, running no other
    service) one step up, as an operator's upgrade of any cluster goes (UpgradeCluster)."""

    cluster_id: Name = Field(description="a cluster of the service's own")


T = TypeVar("T", bound=BaseModel)


def one_of_given(request: T, fields: tuple[str, ...], refusal: str) -> T:
    """A request whose every field is optional still has to ask for something."""
    if all(getattr(request, f) is None for f in fields):
        raise ValueError(refusal)
    return request


class MoveRequest(OperationRequest):
    site: Name | None = Field(default=None, description="target site; or let placement choose")
    placement: PlacementRules | None = Field(default=None, description="new placement rules of the component")
    pin: bool = Field(default=True, description="keep the component at the named `site` from now on (placement "
                      "rules become that site); a rebalancing move does not pin")
    away_from: list[Name] | None = Field(default=None, description="sites to leave for this move only (a failure: "
                                         "the component's own placement rules are kept for later)")
    source_down: bool = Field(default=False, description="the cluster it runs on does not answer (a failure): its "
                              "workload there is removed once the cluster is back, not waited for")

    @model_validator(mode="after")
    def _something_to_do(self) -> MoveRequest:
        return one_of_given(self, ("site", "placement", "away_from"),
                            "give a target `site`, new `placement` rules for placement to apply, or sites to leave")


# what PATCH /v1/services/{id} may change, each replaced whole
UPDATABLE = ("policy", "labels", "slos", "autopilot", "user_areas")


class UpdateServiceRequest(OperationRequest):
    policy: Policy | None = None
    labels: dict[str, str] | None = None
    slos: list[SLO] | None = Field(default=None, max_length=1000, description="the service's SLOs, all of them "
                                   "([] removes them); checked against the spec like at creation")
    autopilot: ServiceAutopilot | None = None
    user_areas: list[UserArea] | None = Field(default=None, max_length=1000, description="the service's user "
                                              "areas, all of them; only their `demand_rps` may change on a running "
                                              "service (legato/model/user_areas.py)")

    @model_validator(mode="after")
    def _something_to_update(self) -> UpdateServiceRequest:
        return one_of_given(self, UPDATABLE, "nothing to update: give any of " + ", ".join(f"`{k}`" for k in UPDATABLE))

    def given(self) -> list[str]:
        return [k for k in UPDATABLE if getattr(self, k) is not None]


class Finding(Strict):
    """Drift between the inventory and what a backend reports."""

    kind: str  # workload-missing | workload-short | connection-missing | orphan-* | host-powered-off
    resource: str
    detail: str
    service_id: str | None = None
    component: str | None = None
    action: Literal["repair-requested", "reported"] = "reported"


class RepairRequest(OperationRequest):
    findings: list[Finding]


class Continuity(Strict):
    """How a component served while an operation ran: the fewest ready replicas at any instant,
    against what it had before and asked for after, and whether its users' path stayed connected.
    `measured`: `history`, exact, from the backend's own record of every replica (the simulator);
    `sampled`, from the readiness polls (Kubernetes: a dip shorter than a poll can be missed)."""

    min_ready: int
    replicas_before: int
    replicas_after: int
    path_connected: bool | None = None
    measured: Literal["history", "sampled"]


class WindowWait(BaseModel):
    """An operation that waits for a maintenance window: when the next window that every one that
    applies shares opens (and closes), and whose windows they are."""

    opens_at: datetime
    closes_at: datetime | None = None
    reason: str = ""

    def describe(self) -> str:
        return f"waiting for maintenance window {self.opens_at:%Y-%m-%d %H:%M:%S} UTC" + (
            f" ({self.reason})" if self.reason else "")


class Operation(Strict):
    """What the workflow receives: the request plus which component and kind; `window`, set by the
    service client when the operation must wait for a maintenance window."""

    kind: Literal["scale", "upgrade", "move", "update", "repair", "cluster_upgrade"]
    component: str | None = None
    scale: ScaleRequest | None = None
    upgrade: UpgradeRequest | None = None
    move: MoveRequest | None = None
    update: UpdateServiceRequest | None = None
    repair: RepairRequest | None = None
    cluster_upgrade: OwnClusterUpgradeRequest | None = None
    window: WindowWait | None = None

    @property
    def request(self) -> OperationRequest:
        return getattr(self, self.kind)


class OperationRecord(BaseModel):
    request_id: str
    kind: str  # scale | upgrade | move | update | repair | cluster_upgrade | terminate
    component: str | None = None
    params: dict = Field(default_factory=dict)
    requested_by: str = ""
    # running | succeeded | failed | rolled-back | refused; waiting (for a maintenance window);
    # skipped (a scheduled run that did not apply) | cancelled (its service was removed while it waited)
    state: str = "running"
    detail: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    continuity: Continuity | None = None
    window: WindowWait | None = Field(default=None, description="while `waiting`: the maintenance window it waits for")


def params_of(op: Operation) -> dict:
    """What an operation asks, as its record keeps it (who asked and its id apart)."""
    return op.request.model_dump(mode="json", exclude={"request_id", "requested_by"})


def asked(params: dict) -> dict:
    """Params compared for idempotency: fields left unset do not make two requests different."""
    return {k: v for k, v in params.items() if v is not None}
