"""A deployed component, declared once: the entity workflow's state, the inventory's record (the
activity that writes it, its table) and the API's answer all derive from these fields, so a field
added here reaches every layer and no two copies can drift apart."""

from __future__ import annotations

from pydantic import BaseModel


class DeployedComponent(BaseModel):
    """Where a component runs and what runs there. Its endpoint is not here: each record declares
    it as it needs it (the workflow's state keeps "" for none, the inventory and the API None)."""

    name: str
    site: str
    cluster: str
    workload_id: str
    image: str
    version: str
    replicas: int


class Footprint(BaseModel):
    """What one replica holds on its node: what a cluster's room is counted in."""

    cpu: float
    memory_mb: int
    gpu: int = 0


class OfService(BaseModel):
    service_id: str


class ComponentRecord(Footprint, DeployedComponent, OfService):
    """A deployed component as the inventory records it (the activity's input and the table's row).

    The bases stand last-first because pydantic lays inherited fields out from the last base to the
    first: service_id, name ... replicas, cpu, memory_mb, gpu, endpoint. The table's columns and its
    primary key (service_id, name), looked up as such a tuple, follow that order."""

    endpoint: str | None = None
