"""Schedules of day-2 operations and maintenance windows: what a tenant (or an operator) declares.

A schedule is a Temporal Schedule (Temporal keeps it: legato/service_schedules.py); its
definition is checked here, field by field, so a bad expression, an unknown time zone or an
operation that would be refused is a 422 naming the field, with nothing created. The recurrence
grammar is Temporal's (legato/recurrence.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from legato.model.operations import (
    MoveRequest,
    Operation,
    ScaleRequest,
    UpdateServiceRequest,
    UpgradeRequest,
)
from legato.model.service import Name, Strict
from legato.recurrence import FIELDS, Calendar, parse_field, zone

CALENDAR_FIELDS = ("second", "minute", "hour", "day_of_month", "month", "day_of_week", "year")


class CalendarSpec(Strict):
    """One calendar entry, matched when every field matches (Temporal's calendar spec). Each field
    is a value, a range `1-5`, a step `*/15`, names (`mon-fri`, `jan`), or a list of those."""

    second: int | str = 0
    minute: int | str = 0
    hour: int | str = 0
    day_of_month: int | str = "*"
    month: int | str = "*"
    day_of_week: int | str = "*"
    year: int | str = "*"
    comment: str = Field(default="", max_length=200)

    @field_validator(*CALENDAR_FIELDS)
    @classmethod
    def _readable(cls, value: int | str, info) -> int | str:
        parse_field(value, info.field_name)  # RecurrenceError (a ValueError) names what is wrong
        return value

    def fields(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in CALENDAR_FIELDS}


class When(Strict):
    """A recurrence: a cron expression or calendar entries, read in a time zone."""

    cron: str | None = Field(default=None, max_length=200, examples=["0 22 * * *"],
                             description="5 fields (minute hour day-of-month month day-of-week), 6 (+ year) or 7 "
                             "(second first), or @daily, @hourly, ...: Temporal's cron")
    calendar: list[CalendarSpec] | None = Field(default=None, min_length=1, max_length=10,
                                                description="calendar entries, instead of `cron`")
    time_zone: str = Field(default="UTC", max_length=64, examples=["Europe/Paris"],
                           description="IANA time zone the times are read in (daylight saving time included)")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            Calendar.cron(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _one_recurrence(self):
        if (self.cron is None) == (self.calendar is None):
            raise ValueError("cron: give a cron expression or a `calendar`, one of the two")
        return self

    def calendars(self) -> list[Calendar]:
        if self.cron is not None:
            return [Calendar.cron(self.cron)]
        return [Calendar.of(c.fields()) for c in self.calendar or []]

    def describe(self) -> str:
        """`cron 0 22 * * * (Europe/Paris)`, or a calendar's fields that differ from the defaults."""
        if self.cron is not None:
            return f"cron {self.cron} ({self.time_zone})"
        entries = [" ".join(f"{k}={v}" for k, v in c.fields().items() if v != FIELDS[k][2]) or "daily at 00:00:00"
                   for c in self.calendar or []]
        return f"calendar {'; '.join(entries)} ({self.time_zone})"


OperationKind = Literal["scale", "upgrade", "move", "update"]
BODIES = {"scale": ScaleRequest, "upgrade": UpgradeRequest, "move": MoveRequest, "update": UpdateServiceRequest}


class ScheduledOperation(Strict):
    """The operation a schedule runs: the body of the matching day-2 route under its kind
    (`{"kind": "scale", "component": "api", "scale": {"replicas": 1}}`). Its request id is derived
    from the schedule and each run's time, so none is given."""

    kind: OperationKind
    component: Name | None = Field(default=None, description="the component (scale, upgrade, move)")
    scale: ScaleRequest | None = None
    upgrade: UpgradeRequest | None = None
    move: MoveRequest | None = None
    update: UpdateServiceRequest | None = None

    @model_validator(mode="after")
    def _one_body(self) -> ScheduledOperation:
        body = getattr(self, self.kind)
        if body is None:
            raise ValueError(f"{self.kind}: the body of the {self.kind} (as its route takes it) is missing")
        others = [k for k in BODIES if k != self.kind and getattr(self, k) is not None]
        if others:
            raise ValueError(f"{others[0]}: a {self.kind} operation takes only a `{self.kind}` body")
        if self.kind == "update" and self.component is not None:
            raise ValueError("component: an update changes the service's policy, labels, SLOs or autopilot, "
                             "not a component")
        if self.kind != "update" and self.component is None:
            raise ValueError(f"component: which component to {self.kind}")
        if body.request_id is not None:
            raise ValueError(f"{self.kind}.request_id: each run's request id is derived from the schedule and the "
                             "run's scheduled time (so a retried or backfilled run applies once); leave it out")
        if body.requested_by:
            raise ValueError(f"{self.kind}.requested_by: set by Legato (the schedule's name)")
        return self

    @property
    def body(self):
        return getattr(self, self.kind)

    def operation(self, request_id: str, requested_by: str,
                  outside_window: Literal["wait", "refuse"] | None = None) -> Operation:
        changes = {"request_id": request_id, "requested_by": requested_by}
        if outside_window is not None and self.body.outside_window is None:
            changes["outside_window"] = outside_window
        return Operation(kind=self.kind, component=self.component, **{self.kind: self.body.model_copy(update=changes)})

    def summary(self) -> str:
        b = self.body
        if self.kind == "scale":
            return f"scale {self.component} to {b.replicas}"
        if self.kind == "upgrade":
            return f"upgrade {self.component} to {b.version} ({b.strategy})"
        if self.kind == "move":
            return f"move {self.component} to {b.site or 'where its new placement rules allow'}"
        return "update " + " and ".join(b.given())


Overlap = Literal["buffer_all", "buffer_one", "skip"]


class ScheduleDefinition(When):
    """What a schedule is: when, what, and what happens to runs that are late, overlap, or find the
    service busy. Kept with the Temporal Schedule (its action's argument)."""

    name: Name = Field(description="the schedule's name within its service (a DNS label)")
    description: str = Field(default="", max_length=500)
    operation: ScheduledOperation
    start_at: AwareDatetime | None = Field(default=None, description="no run before this instant")
    end_at: AwareDatetime | None = Field(default=None, description="no run after this instant")
    jitter_seconds: float = Field(default=0, ge=0, le=3600,
                                  description="each run starts up to this many seconds late, at random")
    catchup_window_seconds: float = Field(
        default=3600, ge=10, le=7 * 86_400,
        description="a run missed while Temporal or every worker was down still runs if it can start within "
        "this long of its time; later, it is skipped")
    overlap: Overlap = Field(
        default="buffer_all", description="a run due while the previous one is still going: `buffer_all` runs "
        "it next (missed runs caught up in order, so the service ends as the latest leaves it), `buffer_one` "
        "keeps at most one waiting, `skip` drops it")
    busy_retry_seconds: float = Field(
        default=600, ge=0, le=86_400,
        description="a run that finds the service busy with another operation retries for this long, then is "
        "recorded as skipped")
    outside_window: Literal["wait", "refuse"] = Field(
        default="wait", description="an upgrade or move due outside the service's maintenance windows waits for "
        "the next one, or is recorded as skipped")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> ScheduleDefinition:
        if self.start_at is not None and self.end_at is not None and self.end_at <= self.start_at:
            raise ValueError("end_at: must be after start_at")
        return self


class ScheduleRequest(ScheduleDefinition):
    """A new schedule (POST): its definition, and whether it starts paused."""

    paused: bool = False
    note: str = Field(default="", max_length=500, description="why it is paused (shown in the Web UI)")


class ScheduleChange(Strict):
    """PATCH: the fields given replace the schedule's (giving `cron` replaces a `calendar` and the
    other way round); `paused` pauses or resumes it."""

    description: str | None = Field(default=None, max_length=500)
    cron: str | None = None
    calendar: list[CalendarSpec] | None = None
    time_zone: str | None = None
    operation: ScheduledOperation | None = None
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None
    jitter_seconds: float | None = None
    catchup_window_seconds: float | None = None
    overlap: Overlap | None = None
    busy_retry_seconds: float | None = None
    outside_window: Literal["wait", "refuse"] | None = None
    paused: bool | None = None
    note: str | None = Field(default=None, max_length=500)

    def applied_to(self, current: ScheduleDefinition) -> ScheduleDefinition:
        """The definition with these changes, validated as a whole (a ValidationError names the field)."""
        changes = self.model_dump(mode="json", exclude_unset=True, exclude={"paused", "note"})
        merged = current.model_dump(mode="json", exclude_none=True) | changes
        if changes.get("cron") is not None and "calendar" not in changes:
            merged.pop("calendar", None)
        if changes.get("calendar") is not None and "cron" not in changes:
            merged.pop("cron", None)
        return ScheduleDefinition.model_validate(merged)


class ScheduledRun(BaseModel):
    """The argument of each run's workflow (ScheduledOperation): which service and schedule, the
    operation, and the choices a run applies. `definition` is the schedule as declared (JSON), for
    the API to show; the workflow reads only the fields beside it."""

    schedule_id: str
    service_id: str
    tenant: str
    name: str
    operation: Operation
    busy_retry_seconds: float = 600
    catchup_window_seconds: float = 3600
    outside_window: Literal["wait", "refuse"] = "wait"
    definition: dict = Field(default_factory=dict)


class RecentRun(BaseModel):
    scheduled_at: datetime
    started_at: datetime
    workflow_id: str


class ScheduleView(BaseModel):
    """A schedule as the API shows it: its definition, its state in Temporal, its next runs."""

    name: str
    schedule_id: str = Field(description="the Temporal Schedule (Web UI: Schedules)")
    service_id: str
    tenant: str
    summary: str = Field(description="what each run does, and when")
    definition: ScheduleDefinition
    paused: bool
    note: str = ""
    next_runs: list[datetime] = Field(default_factory=list, description="as Temporal computes them (UTC)")
    recent_runs: list[RecentRun] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MaintenanceWindow(When):
    """A recurring window in which disruptive operations (upgrades, moves, a cluster's scale-in) may
    run: it opens at each time of its recurrence and stays open `duration_minutes`."""

    name: str = Field(default="", max_length=100)
    duration_minutes: int = Field(ge=1, le=7 * 24 * 60)


class MaintenanceWindows(Strict):
    """The windows of a service, a site or a cluster (none: no restriction)."""

    windows: list[MaintenanceWindow] = Field(default_factory=list, max_length=20)


class MaintenanceWindowsView(MaintenanceWindows):
    scope: Literal["service", "site", "cluster"]
    target: str
    next_opening: datetime | None = Field(default=None, description="when one of them opens next (UTC); now "
                                          "when one is open")
    open_until: datetime | None = Field(default=None, description="when the window open now closes")
    updated_by: str = ""
    updated_at: datetime | None = None
