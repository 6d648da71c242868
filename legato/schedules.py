"""Temporal Schedules Legato keeps: visible, pausable and triggerable in the Web UI."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from legato.config import Settings

RECONCILE = "reconcile"


def reconcile_id(settings: Settings) -> str:
    """`reconcile` for the default task queue; one per task queue otherwise, so two Legato
    installations sharing a namespace never drive each other's reconciliation."""
    return RECONCILE if settings.task_queue == "legato" else f"{RECONCILE}-{settings.task_queue}"


def reconcile_schedule(settings: Settings) -> Schedule:
    every = timedelta(seconds=settings.reconcile_every_seconds)
    return Schedule(
        # A run never outlives its interval: a stuck one (no worker) must not block the next (SKIP).
        action=ScheduleActionStartWorkflow("Reconcile", id=reconcile_id(settings), task_queue=settings.task_queue,
                                           execution_timeout=every),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),  # one scan at a time
    )


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create the schedules, or bring their interval in line with the settings. A pause set by an
    operator in the Web UI is kept."""
    wanted = reconcile_schedule(settings)
    schedule_id = reconcile_id(settings)
    try:
        await client.create_schedule(schedule_id, wanted)
    except ScheduleAlreadyRunningError:

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = current.description.schedule
            schedule.spec, schedule.action = wanted.spec, wanted.action
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)
