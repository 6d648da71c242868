"""The autopilot's tables: the KPI samples it forecasts from, and the measures database (each
automatic action, its reason and figures, the KPIs before and after, its effect). The records that
read and write them are in measures.py."""

from __future__ import annotations

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class KpiSampleRow(SQLModel, table=True):
    """One reading of a deployed component (telemetry over a window ending at `at`, epoch seconds)."""

    __tablename__ = "kpi_samples"
    id: int | None = Field(default=None, primary_key=True)
    service_id: str = Field(index=True)
    component: str = Field(index=True)
    at: float = Field(index=True)
    ready_replicas: int | None = None
    request_rate_rps: float | None = None
    cpu_utilisation: float | None = None
    error_rate: float | None = None
    latency_p95_ms: dict = Field(default_factory=dict, sa_column=Column(JSON))  # by user area
    area_rps: dict = Field(default_factory=dict, sa_column=Column(JSON))  # requests per second by user area


class MeasureRow(SQLModel, table=True):
    """One automatic action: what, why, with which figures, and what it did."""

    __tablename__ = "measures"
    id: str = Field(primary_key=True)  # also the day-2 operation's request id (or the proposal's id)
    service_id: str = Field(index=True)
    tenant: str = Field(index=True)
    component: str
    kind: str  # scale | move | heal
    breach: str  # utilisation | utilisation-low | latency:<area> | failure:<resource>
    reason: str
    data: dict = Field(default_factory=dict, sa_column=Column(JSON))  # the figures behind the decision
    mode: str = "auto"  # auto: acted | approve: proposed, acted once approved
    state: str = "acting"  # acting | proposed | done | failed | refused | measured
    detail: str = ""
    decided_at: float = Field(index=True)  # epoch seconds: the reading it was decided on
    acted_at: float | None = None  # when its operation ended: the window after starts here
    before: dict = Field(default_factory=dict, sa_column=Column(JSON))  # KPIs over the window before
    after: dict | None = Field(default=None, sa_column=Column(JSON))  # KPIs over the window after
    effect: dict | None = Field(default=None, sa_column=Column(JSON))  # after - before, per KPI
    helped: bool | None = None  # the breach it answered is gone after the window
    measured_at: float | None = None


class HealthReadingRow(SQLModel, table=True):
    """One reading of a host, cluster or site the autopilot watches (in use by a service, or seen
    unhealthy lately): the series its failures are confirmed over."""

    __tablename__ = "health_readings"
    id: int | None = Field(default=None, primary_key=True)
    resource: str = Field(index=True)  # host:<id> | cluster:<id> | site:<id>
    at: float = Field(index=True)
    healthy: bool
    detail: str = ""
    cluster: str | None = None  # a host's cluster
    site: str = ""


class FailureRow(SQLModel, table=True):
    """A failure the autopilot confirmed, open until the resource is healthy again for the window."""

    __tablename__ = "failures"
    resource: str = Field(primary_key=True)
    since: float  # the first unhealthy reading of the run
    confirmed_at: float
    detail: str = ""
    cluster: str | None = None
    site: str = ""
