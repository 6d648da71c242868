"""Domain model: the pydantic types every boundary (API, workflows, activities, adapters) speaks."""

from legato.model.continuum import Cluster, Host, Site, Tier, Topology, UserAreaDef
from legato.model.placement import Candidate, ComponentPlacement, PlacementDecision, SitePlan
from legato.model.service import (
    KNOWN_FEATURES,
    Component,
    ComponentKind,
    Link,
    Policy,
    ServiceSpec,
    UserArea,
)
from legato.model.status import ServiceState, ServiceStatus, Step, StepState

__all__ = [
    "KNOWN_FEATURES",
    "Candidate",
    "Cluster",
    "Component",
    "ComponentKind",
    "ComponentPlacement",
    "Host",
    "Link",
    "PlacementDecision",
    "Policy",
    "ServiceSpec",
    "ServiceState",
    "ServiceStatus",
    "Site",
    "SitePlan",
    "Step",
    "StepState",
    "Tier",
    "Topology",
    "UserArea",
    "UserAreaDef",
]
