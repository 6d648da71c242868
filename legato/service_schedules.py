"""A service's schedules of day-2 operations, kept as Temporal Schedules: Temporal is their only
store, so what the Web UI's Schedules page shows (and an operator pauses, triggers or backfills
there) is what the API answers, and nothing can disagree with it.

Each schedule is named `<tenant>:<service id>:<name>`, so its service and tenant read from its id
in the Schedules page, and carries the LegatoServiceId and LegatoTenant search attributes (when
the namespace has them) by which a service's schedules are listed. Its action starts the
`ScheduledOperation` workflow with a `ScheduledRun`: the operation, the run's choices, and the
definition as declared (Temporal stores a cron expression as calendar ranges, so the definition
travels with the action to be shown as it was written). The same module is used by the API
(create, describe, change, delete) and by the service's workflow's activities (remove them all
when the service goes, or one whose service is gone)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from legato.model.schedules import (
    CALENDAR_FIELDS,
    CalendarSpec,
    RecentRun,
    ScheduleChange,
    ScheduleDefinition,
    ScheduledRun,
    ScheduleView,
)
from legato.recurrence import parse_field
from legato.workflows.contracts import SERVICE_ID, TENANT

OVERLAP = {"buffer_all": ScheduleOverlapPolicy.BUFFER_ALL, "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
           "skip": ScheduleOverlapPolicy.SKIP}


class AlreadyExists(Exception):
    """The service has a schedule of that name."""


class InvalidSchedule(Exception):
    """Temporal refused the schedule (what our own checks let through): its words, the field guessed."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def schedule_id(tenant: str, service_id: str, name: str) -> str:
    return f"{tenant}:{service_id}:{name}"


def _prefix(tenant: str, service_id: str) -> str:
    return schedule_id(tenant, service_id, "")


def _ranges(text: str | int, field: str) -> tuple[ScheduleRange, ...]:
    if field == "year" and str(text).strip() in ("*", ""):
        return ()  # every year (Temporal's default), rather than the years it recognises spelt out
    return tuple(ScheduleRange(start, end, step) for start, end, step in parse_field(text, field))


def calendar_spec(entry: CalendarSpec) -> ScheduleCalendarSpec:
    return ScheduleCalendarSpec(**{f: _ranges(getattr(entry, f), f) for f in CALENDAR_FIELDS},
                                comment=entry.comment or None)


def build(run: ScheduledRun, definition: ScheduleDefinition, task_queue: str, indexed: bool,
          paused: bool = False, note: str = "") -> Schedule:
    # Here, not at the top: the workflow's activities (which remove schedules) import this module.
    from legato.workflows.scheduled_operation import ScheduledOperation

    d = definition
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledOperation.run, run, id=run.schedule_id, task_queue=task_queue,
            memo={"tenant": run.tenant, "service": run.service_id, "schedule": run.name},
            static_summary=f"{d.operation.summary()} on {run.service_id} (schedule {run.name}, tenant {run.tenant})",
            typed_search_attributes=_attributes(run.service_id, run.tenant) if indexed else TypedSearchAttributes.empty,
        ),
        spec=ScheduleSpec(
            cron_expressions=[d.cron] if d.cron else [],
            calendars=[calendar_spec(c) for c in d.calendar or []],
            time_zone_name=d.time_zone,
            start_at=d.start_at,
            end_at=d.end_at,
            jitter=timedelta(seconds=d.jitter_seconds) if d.jitter_seconds else None,
        ),
        policy=SchedulePolicy(overlap=OVERLAP[d.overlap], catchup_window=timedelta(seconds=d.catchup_window_seconds)),
        state=ScheduleState(paused=paused, note=note or None),
    )


def _attributes(service_id: str, tenant: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(SERVICE_ID, service_id), SearchAttributePair(TENANT, tenant)])


def scheduled_run(tenant: str, service_id: str, definition: ScheduleDefinition) -> ScheduledRun:
    """The argument every run of this schedule gets."""
    sid = schedule_id(tenant, service_id, definition.name)
    return ScheduledRun(
        schedule_id=sid, service_id=service_id, tenant=tenant, name=definition.name,
        operation=definition.operation.operation(request_id="", requested_by=f"schedule {definition.name}"),
        busy_retry_seconds=definition.busy_retry_seconds, catchup_window_seconds=definition.catchup_window_seconds,
        outside_window=definition.outside_window, definition=definition.model_dump(mode="json", exclude_none=True),
    )


def _invalid(err: RPCError) -> InvalidSchedule:
    text = err.message
    lowered = text.lower()
    field = "time_zone" if "time zone" in lowered or "timezone" in lowered else (
        "cron" if "spec" in lowered else "body")
    return InvalidSchedule(f"Temporal refused the schedule: {text}", field)


async def create(client: Client, tenant: str, service_id: str, definition: ScheduleDefinition, task_queue: str,
                 indexed: bool, paused: bool = False, note: str = "") -> str:
    run = scheduled_run(tenant, service_id, definition)
    try:
        await client.create_schedule(run.schedule_id, build(run, definition, task_queue, indexed, paused, note),
                                     search_attributes=_attributes(service_id, tenant) if indexed else None)
    except ScheduleAlreadyRunningError:
        raise AlreadyExists(f"service '{service_id}' has a schedule named '{definition.name}' already") from None
    except RPCError as err:
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            raise _invalid(err) from None
        raise
    return run.schedule_id


async def describe(client: Client, sid: str) -> ScheduleView | None:
    """The schedule as Temporal has it now (definition, paused, next and recent runs); None if gone."""
    try:
        desc = await client.get_schedule_handle(sid).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return await view(client, sid, desc)


async def _run_of(client: Client, desc: ScheduleDescription) -> ScheduledRun:
    [run] = await client.data_converter.decode(desc.schedule.action.args, [ScheduledRun])
    return run


async def view(client: Client, sid: str, desc: ScheduleDescription) -> ScheduleView:
    run = await _run_of(client, desc)
    definition = ScheduleDefinition.model_validate(run.definition)
    state = desc.schedule.state
    return ScheduleView(
        name=run.name, schedule_id=sid, service_id=run.service_id, tenant=run.tenant,
        summary=f"{definition.operation.summary()}, {definition.describe()}", definition=definition,
        paused=state.paused, note=state.note or "", next_runs=list(desc.info.next_action_times),
        recent_runs=[RecentRun(scheduled_at=a.scheduled_at, started_at=a.started_at,
                               workflow_id=getattr(a.action, "workflow_id", "")) for a in desc.info.recent_actions],
        created_at=desc.info.created_at, updated_at=desc.info.last_updated_at,
    )


async def change(client: Client, sid: str, changes: ScheduleChange, task_queue: str, indexed: bool) -> None:
    """Apply a PATCH: a new definition (validated whole before anything is sent; ValueError
    otherwise), and/or pause or resume. The state (paused, note) is kept unless changed."""

    async def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        run = await _run_of(client, current.description)
        definition = changes.applied_to(ScheduleDefinition.model_validate(run.definition))
        paused = schedule.state.paused if changes.paused is None else changes.paused
        note = (schedule.state.note or "") if changes.note is None else changes.note
        return ScheduleUpdate(schedule=build(scheduled_run(run.tenant, run.service_id, definition), definition,
                                             task_queue, indexed, paused, note))

    try:
        await client.get_schedule_handle(sid).update(update)
    except RPCError as err:
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            raise _invalid(err) from None
        raise


async def delete(client: Client, sid: str) -> bool:
    """Remove a schedule; False if it was gone already."""
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def ids_of(client: Client, tenant: str, service_id: str, indexed: bool) -> list[str]:
    """The ids of a service's schedules, from Temporal's visibility store: a schedule just created
    or removed shows there within a second or so (each id is checked with `describe` by callers
    who need it now)."""
    query = f'{SERVICE_ID.name} = "{service_id}"' if indexed else None
    prefix = _prefix(tenant, service_id)
    return sorted({s.id async for s in await client.list_schedules(query=query) if s.id.startswith(prefix)})


async def views_of(client: Client, tenant: str, service_id: str, indexed: bool) -> list[ScheduleView]:
    found = await asyncio.gather(*(describe(client, sid) for sid in await ids_of(client, tenant, service_id, indexed)))
    return [v for v in found if v is not None]


async def delete_all(client: Client, tenant: str, service_id: str, indexed: bool) -> int:
    """Remove every schedule of a service (it is going); how many there were."""
    removed = await asyncio.gather(*(delete(client, sid) for sid in await ids_of(client, tenant, service_id, indexed)))
    return sum(removed)
