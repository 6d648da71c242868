"""DeliverEvents (`hub-<id>`): one per registered listener, delivering its API's events in order.

Each activity run watches the outbox for a while and POSTs what is new; a listener that is down
makes it fail, and Temporal retries it with backoff, resuming at the first undelivered event,
for as long as the hub exists. The workflow continues as new so its history stays small."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from legato.activities.tmf import TmfActivities

RUNS_PER_HISTORY = 100
DELIVERY = dict(
    start_to_close_timeout=timedelta(minutes=2),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=60)),  # no maximum attempts: durable
)


def hub_workflow_id(hub_id: str) -> str:
    return f"hub-{hub_id}"


@workflow.defn(name="DeliverEvents")
class DeliverEvents:
    @workflow.run
    async def run(self, hub_id: str) -> None:
        for _ in range(RUNS_PER_HISTORY):
            if not await workflow.execute_activity_method(TmfActivities.deliver_events, hub_id,
                                                          **DELIVERY):
                return  # the hub was deleted
        workflow.continue_as_new(hub_id)
