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


def reconcile_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow("Reconcile", id=RECONCILE, task_queue=settings.task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.reconcile_every_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),  # one scan at a time
    )


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create the schedules, or bring their interval in line with the settings. A pause set by an
    operator in the Web UI is kept."""
    wanted = reconcile_schedule(settings)
    try:
        await client.create_schedule(RECONCILE, wanted)
    except ScheduleAlreadyRunningError:

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = current.description.schedule
            schedule.spec, schedule.action = wanted.spec, wanted.action
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(RECONCILE).update(update)
