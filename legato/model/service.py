"""What an operator asks for: a service graph of components, links and user areas."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from legato.model.charts import ChartSource
from legato.model.intents import SLO, ServiceAutopilot, slo_errors

# Hardware features a component may require and a host may offer. A closed vocabulary, so a typo
# in a spec ("srIOV", "dpkd") is rejected at the door instead of becoming an unplaceable service.
KNOWN_FEATURES = frozenset(
    {
        "sriov",
        "dpdk",
        "ptp",
        "gpu-t4",
        "gpu-a100",
        "gpu-l4",
        "fpga",
        "sgx",
        "hugepages",
        "nvme",
    }
)

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="DNS-1123 label")]


class Strict(BaseModel):
    """Unknown fields are errors: a misspelt key must not silently do nothing."""

    model_config = ConfigDict(extra="forbid")


class ComponentKind(StrEnum):
    container = "container"
    vm = "vm"


class PlacementRules(Strict):
    """Where a component may run (the Open Cluster Management way: change these, and placement moves it)."""

    sites: list[str] | None = Field(default=None, description="only these sites")
    avoid_sites: list[str] = Field(default_factory=list)
    tiers: list[str] | None = Field(default=None, description="far-edge | edge | regional | cloud")
    countries: list[str] | None = None

    @field_validator("tiers")
    @classmethod
    def _known_tiers(cls, value: list[str] | None) -> list[str] | None:
        bad = sorted(set(value or []) - {"far-edge", "edge", "regional", "cloud"})
        if bad:
            raise ValueError(f"unknown tier(s) {bad}; known: far-edge, edge, regional, cloud")
        return value

    def rejects(self, site_id: str, tier: str, country: str) -> str | None:
        if self.sites is not None and site_id not in self.sites:
            return f"not among the component's sites {self.sites}"
        if site_id in self.avoid_sites:
            return "avoided by the component's placement rules"
        if self.tiers is not None and tier not in self.tiers:
            return f"tier {tier} not in the component's tiers {self.tiers}"
        if self.countries is not None and country not in self.countries:
            return f"country {country} not in the component's countries {self.countries}"
        return None


ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SecretRef(Strict):
    """Where a secret value lives, never the value: resolved only by the WDM backend, in the target
    cluster (a Kubernetes Secret there) or in Vault (a KV v2 path). Both are the tenant's own: a
    Kubernetes name is looked up in the tenant's secrets namespace, a Vault path under the tenant's
    prefix, so no reference can reach another tenant's secrets."""

    kubernetes: str | None = Field(default=None, pattern=NAME_PATTERN.replace("61", "251"),
                                   description="a Secret of the tenant's secrets namespace on the target cluster")
    vault: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                              description="a KV v2 path under the tenant's Vault prefix")
    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$", description="the key in it")

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.kubernetes is None) == (self.vault is None):
            raise ValueError("a secretRef names exactly one of kubernetes (a Secret) or vault (a KV v2 path)")
        return self


class Component(Strict):
    name: Name
    image: str = Field(default="", description="the container image; a component runs an image or a chart")
    version: str = Field(default="latest", min_length=1, description="the image's version, or the chart's")
    chart: ChartSource | None = Field(default=None, validate_default=True, description="a Helm chart "
                                      "installed as one release instead of an image (docs: components as charts)")
    replicas: int = Field(default=1, ge=1, le=1000)
    cpu: float = Field(default=0.5, gt=0, description="vCPU per replica")
    memory_mb: int = Field(default=512, gt=0, description="MiB per replica")
    gpu: int = Field(default=0, ge=0, description="GPUs per replica")
    features: list[str] = Field(default_factory=list, description="required hardware features")
    kind: ComponentKind = ComponentKind.container
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], SecretRef] = Field(
        default_factory=dict, description="environment variables whose values are secrets, by reference "
        "(secretRef): resolved only in the target cluster, never stored or logged by Legato")
    labels: dict[str, str] = Field(default_factory=dict)
    placement: PlacementRules = Field(default_factory=PlacementRules)
    colocate_with: list[Name] = Field(
        default_factory=list,
        description="components that must run on the same site as this one (e.g. a sidecar-like helper); "
        "placement treats co-located components as one unit",
    )
    anti_affinity: list[Name] = Field(
        default_factory=list,
        description="components that must not run on the same site as this one (resilience: a site failure "
        "takes down at most one of them); symmetric",
    )

    @field_validator("chart")
    @classmethod
    def _image_or_chart(cls, value: ChartSource | None, info: ValidationInfo) -> ChartSource | None:
        """Exactly one of `image` and `chart`; a chart pins its version; its values files were read
        by the client (the API reads no path a spec names)."""
        image, version = info.data.get("image"), info.data.get("version")
        if value is None:
            if not image and "image" in info.data:
                raise ValueError("give `image` or `chart`: a component runs a container image or a Helm chart")
            return value
        if image:
            raise ValueError("give `image` or `chart`, not both: a chart sets its images through its values")
        if version == "latest":
            raise ValueError("a chart component pins its chart version in `version` (not 'latest')")
        if value.values_files:
            raise ValueError("values_files are read by the client that loads the spec file (`legato deploy`), "
                             "relative to it: send their contents in `values`")
        return value

    @field_validator("features")
    @classmethod
    def _known_features(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - KNOWN_FEATURES)
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {sorted(KNOWN_FEATURES)}")
        return sorted(set(value))

    @property
    def total_cpu(self) -> float:
        return self.cpu * self.replicas

    @property
    def total_memory_mb(self) -> int:
        return self.memory_mb * self.replicas

    @property
    def total_gpu(self) -> int:
        return self.gpu * self.replicas


class Link(Strict):
    """A directed edge of the service graph; the connectivity manager wires it across sites."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: Name = Field(alias="from")
    target: Name = Field(alias="to")
    bandwidth_mbps: float = Field(default=10, gt=0)
    max_latency_ms: float = Field(default=100, gt=0)


class UserArea(Strict):
    """Where the service's users are, and what they must get."""

    area: str = Field(min_length=1)
    component: Name | None = Field(default=None, description="component the users reach (default: first)")
    max_latency_ms: float = Field(default=50, gt=0)
    qos_profile: str = Field(default="best-effort", pattern=r"^(best-effort|low-latency|guaranteed-bitrate)$")
    bandwidth_mbps: float = Field(default=10, gt=0)
    demand_rps: float = Field(default=10, gt=0, description="requests per second the area's users send, on "
                              "average over a day: the base of the simulator's load, what following the users changes")


class Policy(Strict):
    """Telco Cloud Policy Manager input: objective weights and hard rules."""

    weight_latency: float = Field(default=1.0, ge=0)
    weight_cost: float = Field(default=1.0, ge=0)
    weight_energy: float = Field(default=0.5, ge=0)
    allowed_providers: list[str] | None = None
    allowed_countries: list[str] | None = None
    max_cost_per_hour: float | None = Field(default=None, gt=0)
    prefer_existing_clusters: bool = True
    min_sites: int = Field(
        default=1, ge=1, le=200,
        description="the service's components span at least this many distinct sites (resilience: no single "
        "site failure takes the whole service down); a component's replicas always share its site",
    )


# Labels a TMF order puts on the services it adds: which order, item and specification.
ORDER_LABEL, ITEM_LABEL, SPEC_LABEL = "tmf.order", "tmf.order-item", "tmf.specification"


class ServiceSpec(Strict):
    id: Name | None = Field(default=None, description="service id; generated when absent")
    name: str = Field(min_length=1, max_length=200)
    tenant: str | None = Field(default=None, description="set from the caller's token when absent")
    components: list[Component] = Field(min_length=1, max_length=200)
    links: list[Link] = Field(default_factory=list)
    user_areas: list[UserArea] = Field(default_factory=list)
    policy: Policy = Field(default_factory=Policy)
    labels: dict[str, str] = Field(default_factory=dict)
    not_before: datetime | None = Field(default=None, description="deferred deployment start (UTC)")
    progress_deadline_seconds: float = Field(
        default=600, ge=5, le=86_400, description="how long any wait for readiness may take (like a Deployment's "
        "progressDeadlineSeconds); past it the deployment, or a day-2 operation that does not set its own, is undone")
    slos: list[SLO] = Field(default_factory=list, max_length=1000, description="service level objectives per "
                            "component and user area (legato/model/intents.py): what the autopilot keeps")
    autopilot: ServiceAutopilot = Field(default_factory=ServiceAutopilot, description="automatic action on this "
                                        "service: off, or only with approval (never looser than the operator's policy)")

    @model_validator(mode="after")
    def _graph_is_consistent(self) -> ServiceSpec:
        names = [c.name for c in self.components]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"components: duplicate component name(s) {dupes}")
        known = set(names)
        for i, link in enumerate(self.links):
            for end, value in (("from", link.source), ("to", link.target)):
                if value not in known:
                    raise ValueError(f"links[{i}].{end}: unknown component '{value}'")
            if link.source == link.target:
                raise ValueError(f"links[{i}]: a link must join two different components")
        for i, area in enumerate(self.user_areas):
            if area.component is not None and area.component not in known:
                raise ValueError(f"user_areas[{i}].component: unknown component '{area.component}'")
        self._hints_are_consistent(known)
        if self.policy.min_sites > len(names):
            raise ValueError(f"policy.min_sites: {self.policy.min_sites} sites, but the service has only "
                             f"{len(names)} component(s)")
        slos = slo_errors(self)
        if slos:
            raise ValueError("; ".join(slos))
        return self

    def _hints_are_consistent(self, known: set[str]) -> None:
        """Placement hints name known components, never the component itself, and never ask two
        components to share a site (directly or through a chain of co-locations) and not to."""
        group = {n: n for n in known}

        def root(n: str) -> str:
            while group[n] != n:
                n = group[n]
            return n

        for i, comp in enumerate(self.components):
            for field in ("colocate_with", "anti_affinity"):
                for value in getattr(comp, field):
                    if value not in known:
                        raise ValueError(f"components[{i}].{field}: unknown component '{value}'")
                    if value == comp.name:
                        raise ValueError(f"components[{i}].{field}: a component cannot name itself")
            for value in comp.colocate_with:
                group[root(value)] = root(comp.name)
        for i, comp in enumerate(self.components):
            for value in comp.anti_affinity:
                if root(value) == root(comp.name):
                    raise ValueError(f"components[{i}].anti_affinity: '{value}' must also share the site of "
                                     f"'{comp.name}' (colocate_with)")

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def with_component(self, name: str, **changes) -> ServiceSpec:
        """A copy with one component changed (day-2 operations keep the spec the truth)."""
        comps = [c.model_copy(update=changes) if c.name == name else c for c in self.components]
        return self.model_copy(update={"components": comps})

    def entry_component(self, area: UserArea) -> str:
        return area.component or self.components[0].name


def slug(text: str) -> str:
    """A DNS-safe id fragment from free text (service names become part of ids)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return cleaned[:40] or "service"


TENANT_SUFFIX_HEX = 8  # a chosen id's tenant suffix; generated ids end in 6 random hex digits, never 8


def scoped_id(tenant: str, chosen: str) -> str:
    """A service id a client chose, made its tenant's: `<chosen>-<8 hex of the tenant>`. The same
    for that tenant every time (a retried create finds it), never another tenant's (nobody can
    collide with, and so learn of, another tenant's service by picking its id)."""
    return f"{chosen}-{hashlib.sha256(tenant.encode()).hexdigest()[:TENANT_SUFFIX_HEX]}"
