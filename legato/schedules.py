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

from legato.activities.contracts import AutopilotRound
from legato.config import Settings
from legato.workflows.rebalance import RebalanceParams

RECONCILE = "reconcile"
REBALANCE = "rebalance"
AUTOPILOT = "autopilot"


def schedule_id(name: str, settings: Settings) -> str:
    """`name` for the default task queue; one per task queue otherwise, so two Legato installations
    sharing a namespace never drive each other's periodic work."""
    return name if settings.task_queue == "legato" else f"{name}-{settings.task_queue}"


def reconcile_id(settings: Settings) -> str:
    return schedule_id(RECONCILE, settings)


def rebalance_id(settings: Settings) -> str:
    return schedule_id(REBALANCE, settings)


def autopilot_id(settings: Settings) -> str:
    return schedule_id(AUTOPILOT, settings)


def _every(workflow: str, workflow_id: str, seconds: float, settings: Settings, *args) -> Schedule:
    every = timedelta(seconds=seconds)
    return Schedule(
        # A run never outlives its interval: a stuck one (no worker) must not block the next (SKIP).
        action=ScheduleActionStartWorkflow(workflow, args=list(args), id=workflow_id, task_queue=settings.task_queue,
                                           execution_timeout=every),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),  # one run at a time
    )


def reconcile_schedule(settings: Settings) -> Schedule:
    return _every("Reconcile", reconcile_id(settings), settings.reconcile_every_seconds, settings)


def rebalance_schedule(settings: Settings) -> Schedule:
    params = RebalanceParams(mode=settings.rebalance_mode, min_gain=settings.rebalance_min_gain)
    return _every("Rebalance", rebalance_id(settings), settings.rebalance_every_seconds, settings, params)


def autopilot_schedule(settings: Settings) -> Schedule:
    """A reading per round, over the round's interval; a day of readings is the forecasts' season."""
    every = settings.autopilot_every_seconds
    params = AutopilotRound(window_seconds=every, season_steps=max(2, round(86_400 / every)),
                            measure_after_seconds=max(600.0, 10 * every), settle_seconds=every)
    return _every("Autopilot", autopilot_id(settings), every, settings, params)


async def _ensure(client: Client, schedule_id: str, wanted: Schedule) -> None:
    try:
        await client.create_schedule(schedule_id, wanted)
    except ScheduleAlreadyRunningError:

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = current.description.schedule
            schedule.spec, schedule.action = wanted.spec, wanted.action
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create the schedules, or bring their interval and parameters in line with the settings. A
    pause set by an operator in the Web UI is kept."""
    await _ensure(client, reconcile_id(settings), reconcile_schedule(settings))
    await _ensure(client, rebalance_id(settings), rebalance_schedule(settings))
    await _ensure(client, autopilot_id(settings), autopilot_schedule(settings))
