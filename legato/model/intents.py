"""The intent database: what a service must get (its SLOs, in its spec) and how far automatic action
may go to get it (the operator's autopilot policy, in the inventory, made stricter per service by
the spec's `autopilot`). The autopilot compares telemetry with these and acts within these bounds;
nothing here reads telemetry or acts.

An SLO's objectives, where each is measured, and what `area` it takes:

- `p95_latency_ms`: where the area's users enter (the area's entry component); `area`, one the
  component is the entry of (none: each of them);
- `max_error_rate`: over the component's requests; `area`, one the component serves (it is the
  entry, or is reached from the entry along the links; none: every one);
- `utilisation` (a band) and `availability`: over all the component's replicas, whatever area the
  requests came from; never with `area`.

This module does not import `legato.model.service` (which holds these in `ServiceSpec`): the
checks take the spec as an argument."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from legato.model.service import ServiceSpec

Approval = Literal["auto", "approve"]
ActionKind = Literal["scale", "move", "grow-cluster", "heal"]
ACTION_KINDS: tuple[ActionKind, ...] = ("scale", "move", "grow-cluster", "heal")
OBJECTIVES = ("p95_latency_ms", "max_error_rate", "utilisation", "availability")
COMPONENT_WIDE = ("utilisation", "availability")  # measured over all of a component's replicas: never per area


class SLO(BaseModel):
    """Objectives of one component, for one user area or every area it serves."""

    model_config = ConfigDict(extra="forbid")  # a misspelt objective must not silently be no objective

    component: str = Field(min_length=1, max_length=63, description="a component of the spec")
    area: str | None = Field(default=None, min_length=1, max_length=200, description=(
        "a user area of the spec the component serves; none: every area it serves (latency: every area it is "
        "the entry of). Not with utilisation or availability, which are the component's own"))
    p95_latency_ms: float | None = Field(default=None, gt=0, le=60_000, description=(
        "95th percentile of the latency the area's users see, at most the area's own max_latency_ms"))
    max_error_rate: float | None = Field(default=None, ge=0, le=1, description="share of requests failing, 0..1")
    utilisation: list[float] | None = Field(default=None, min_length=2, max_length=2, description=(
        "[low, high], 0 < low < high <= 1: the CPU utilisation band of the component's replicas (above high: "
        "scale out; below low: scale in)"))
    availability: float | None = Field(default=None, gt=0, lt=1, description=(
        "share of time the component has its requested replicas ready, e.g. 0.999"))

    @field_validator("utilisation")
    @classmethod
    def _band(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not 0 < value[0] < value[1] <= 1:
            raise ValueError(f"a band [low, high] with 0 < low < high <= 1, got {value}")
        return value

    @model_validator(mode="after")
    def _some_objective(self) -> SLO:
        if all(getattr(self, name) is None for name in OBJECTIVES):
            raise ValueError(f"an SLO sets at least one objective: {', '.join(OBJECTIVES)}")
        return self

    def objectives(self) -> list[str]:
        return [name for name in OBJECTIVES if getattr(self, name) is not None]


class ServiceAutopilot(BaseModel):
    """A tenant's say over automatic action on its service: it may only make the operator's policy
    stricter (`effective_policy`), never looser."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="false: no automatic action on this service at all")
    approval: Approval = Field(default="auto", description=(
        "approve: every automatic action on this service waits for approval, even where the operator lets the "
        "autopilot act; auto: as the operator's policy says"))


class AutopilotPolicy(BaseModel):
    """The operator's bounds on automatic action, for every service. The defaults act on nothing
    unasked: the autopilot proposes, and a human approves."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="false: the autopilot acts on no service and proposes nothing")
    approval: Approval = Field(default="approve", description=(
        "auto: act and record; approve: record a proposal and act only once it is approved"))
    actions: list[ActionKind] = Field(default_factory=lambda: list(ACTION_KINDS), max_length=len(ACTION_KINDS),
                                      description="the kinds of action allowed: scale, move, grow-cluster, heal")
    max_replicas: int = Field(default=10, ge=1, le=1000, description=(
        "the most replicas the autopilot gives any one component"))
    max_cost_per_hour: float | None = Field(default=None, gt=0, le=1e9, description=(
        "the most a service may cost per hour after an automatic action (none: no bound beyond the service's own "
        "policy.max_cost_per_hour)"))
    allowed_sites: list[str] | None = Field(default=None, max_length=10_000, description=(
        "the sites the autopilot may place onto (move, grow a cluster, heal elsewhere); none: any site. [] leaves "
        "it scaling in place only"))
    cooldown_seconds: float = Field(default=300, ge=0, le=86_400, description=(
        "after an action on a service, no other automatic action on it for this long"))
    max_actions_per_hour: int = Field(default=6, ge=1, le=3600, description="per service")
    confirm_seconds: float = Field(default=30, ge=1, le=3600, description=(
        "how long a failure must last before healing acts: blips shorter never act"))

    @field_validator("actions")
    @classmethod
    def _each_once(cls, value: list[ActionKind]) -> list[ActionKind]:
        return [kind for kind in ACTION_KINDS if kind in value]

    @field_validator("allowed_sites")
    @classmethod
    def _site_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not site.strip() for site in value):
            raise ValueError("a site id is not empty")
        return None if value is None else list(dict.fromkeys(value))  # once each, in the order given

    def allows(self, kind: ActionKind) -> bool:
        """Whether the autopilot may take (or, under approval, propose) an action of this kind."""
        return self.enabled and kind in self.actions


class EffectivePolicy(AutopilotPolicy):
    """The policy that bounds automatic action on one service, and which of its fields the
    service's own settings made stricter than the operator's (so a skipped action can say whose
    rule skipped it)."""

    stricter_by_service: list[str] = Field(default_factory=list)


def effective_policy(operator: AutopilotPolicy, service: ServiceSpec) -> EffectivePolicy:
    """The stricter of the operator's policy and what the service's spec asks: off if either is
    off, approval if either asks for it, the lower cost bound of the operator's and the service's
    own `policy.max_cost_per_hour`. Every other bound is the operator's alone: a spec cannot
    loosen any of them."""
    own, spec_cost = service.autopilot, service.policy.max_cost_per_hour
    costs = [c for c in (operator.max_cost_per_hour, spec_cost) if c is not None]
    result = operator.model_dump(include=set(AutopilotPolicy.model_fields))  # not a stored view's extras
    stricter = []
    if operator.enabled and not own.enabled:
        result["enabled"], stricter = False, [*stricter, "enabled"]
    if operator.approval == "auto" and own.approval == "approve":
        result["approval"], stricter = "approve", [*stricter, "approval"]
    if costs and min(costs) != operator.max_cost_per_hour:
        result["max_cost_per_hour"], stricter = min(costs), [*stricter, "max_cost_per_hour"]
    return EffectivePolicy(**result, stricter_by_service=stricter)


# ---- the SLOs against the rest of the spec


def served_areas(spec: ServiceSpec) -> dict[str, set[str]]:
    """The user areas each component serves: those it is the entry of, and those whose entry
    reaches it along the links (their requests pass through it)."""
    downstream: dict[str, list[str]] = {c.name: [] for c in spec.components}
    for link in spec.links:
        downstream.setdefault(link.source, []).append(link.target)
    served: dict[str, set[str]] = {c.name: set() for c in spec.components}
    for area in spec.user_areas:
        seen, frontier = set(), [spec.entry_component(area)]
        while frontier:
            name = frontier.pop()
            if name in seen or name not in served:
                continue
            seen.add(name)
            served[name].add(area.area)
            frontier.extend(downstream.get(name, []))
    return served


def entries(spec: ServiceSpec) -> dict[str, dict[str, float]]:
    """Per component, the areas it is the entry of, with the tightest max_latency_ms the spec asks
    for each (an area may be listed more than once)."""
    out: dict[str, dict[str, float]] = {c.name: {} for c in spec.components}
    for area in spec.user_areas:
        mine = out.setdefault(spec.entry_component(area), {})
        mine[area.area] = min(area.max_latency_ms, mine.get(area.area, area.max_latency_ms))
    return out


def latency_areas(spec: ServiceSpec, slo: SLO) -> dict[str, float]:
    """The areas a latency objective applies to, each with the area's own max_latency_ms."""
    mine = entries(spec).get(slo.component, {})
    return mine if slo.area is None else {a: ms for a, ms in mine.items() if a == slo.area}


def slo_errors(spec: ServiceSpec) -> list[str]:
    """What does not hold in the spec's SLOs, each message naming the field (`slos[i].<field>: ...`).

    A latency objective looser than the area's own max_latency_ms is refused: the area already asks
    its users get that much, so such an SLO would let the autopilot call healthy what the spec calls
    broken. One tighter is the point (the placement's network bound plus the service's own time)."""
    errors: list[str] = []
    names = [c.name for c in spec.components]
    areas = sorted({a.area for a in spec.user_areas})
    served, entry = served_areas(spec), entries(spec)
    taken: dict[tuple[str, str | None, str], int] = {}
    for i, slo in enumerate(spec.slos):
        at = f"slos[{i}]"
        if slo.component not in names:
            errors.append(f"{at}.component: unknown component '{slo.component}' (known: {names})")
            continue
        if slo.area is not None:
            if slo.area not in areas:
                errors.append(f"{at}.area: '{slo.area}' is not a user area of this service (its areas: {areas})")
                continue
            if slo.area not in served[slo.component]:
                errors.append(f"{at}.area: component '{slo.component}' does not serve area '{slo.area}' (it is not "
                              "the area's entry, nor reached from it along the links)")
                continue
            wide = [name for name in COMPONENT_WIDE if getattr(slo, name) is not None]
            if wide:
                errors.append(f"{at}.area: {' and '.join(wide)} is the component's own, over all its replicas "
                              "whatever area its users are in: give it in an SLO without `area`")
                continue
        if slo.p95_latency_ms is not None:
            errors.extend(_latency_errors(spec, slo, at, entry[slo.component]))
        for name in slo.objectives():
            key = (slo.component, slo.area, name)
            if key in taken:
                errors.append(f"{at}.{name}: already set for component '{slo.component}'"
                              + (f" in area '{slo.area}'" if slo.area else "") + f" by slos[{taken[key]}]")
            taken.setdefault(key, i)
    return errors


def _latency_errors(spec: ServiceSpec, slo: SLO, at: str, entry_of: dict[str, float]) -> list[str]:
    field = f"{at}.p95_latency_ms"
    if slo.area is None and not entry_of:
        return [f"{field}: user latency is measured where users enter, and '{slo.component}' is the entry of no "
                "user area: set it on an entry component (user_areas[].component)"]
    if slo.area is not None and slo.area not in entry_of:
        their = sorted({spec.entry_component(a) for a in spec.user_areas if a.area == slo.area})
        return [f"{field}: user latency is measured where users enter: '{slo.component}' is not the entry of area "
                f"'{slo.area}' (its entry: {', '.join(their)})"]
    return [f"{field}: {slo.p95_latency_ms:g} ms is looser than area '{area}' asks (max_latency_ms {limit:g}): "
            f"give at most {limit:g}, or raise the area's max_latency_ms"
            for area, limit in sorted(latency_areas(spec, slo).items()) if slo.p95_latency_ms > limit]
