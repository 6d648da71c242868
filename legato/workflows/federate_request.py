"""FederateRequest: one part of a service, deployed by a partner operator's Legato.

Send the part (idempotent: the partner dedups on our deterministic request id), then follow it
until the partner's service is active, and return its remote id and endpoints. The parent
registers the compensation (delete the remote part) before starting this child, so a failure, a
rollback or a termination at home removes it at the partner too, even if the child never
returned."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import ForwardOperation, RemotePart, SendFederation
    from legato.activities.federation import FederationActivities
    from legato.model import PlacementDecision, ServiceSpec
    from legato.model.federation import FederatedPart
    from legato.model.operations import Operation
    from legato.workflows.steps import Ctx, gather_all

_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                     maximum_interval=timedelta(seconds=5),
                     non_retryable_error_types=["InvalidRequest", "PartnerRefused", "PermanentFault", "NotFound"])
# Sending gives up after the partner's max_attempts (counted by the activity); following and
# forwarding wait as long as the partner works, heartbeating.
SEND = dict(start_to_close_timeout=timedelta(minutes=1), heartbeat_timeout=timedelta(seconds=10),
            schedule_to_close_timeout=timedelta(minutes=15), retry_policy=_RETRY)
FOLLOW = dict(start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=timedelta(seconds=10),
              schedule_to_close_timeout=timedelta(hours=2), retry_policy=_RETRY)


class FederateInput(BaseModel):
    service_id: str
    partner: str
    request_id: str
    components: list[str]
    spec: ServiceSpec
    poll_seconds: float = 0.5


@workflow.defn(name="FederateRequest")
class FederateRequest:
    @workflow.run
    async def run(self, req: FederateInput) -> FederatedPart:
        wid = workflow.info().workflow_id
        part = dict(service_id=req.service_id, partner=req.partner, request_id=req.request_id,
                    components=req.components, poll_seconds=req.poll_seconds)
        await workflow.execute_activity_method(FederationActivities.send, SendFederation(
            op_id=f"{wid}/send", step=f"send@{req.partner}", spec=req.spec, **part), **SEND)
        remote = await workflow.execute_activity_method(FederationActivities.follow, RemotePart(
            op_id=f"{wid}/follow", step=f"follow@{req.partner}", **part), **FOLLOW)
        return FederatedPart(partner=req.partner, request_id=req.request_id, remote_id=remote.remote_id,
                             components=req.components, state=remote.state, endpoints=remote.endpoints)


def request_id(service_id: str, partner: str) -> str:
    """Deterministic: the same service asks the same partner under the same id, on every retry."""
    return f"{service_id}.{partner}"


async def federate(ctx: Ctx, decision: PlacementDecision, poll_seconds: float) -> list[FederatedPart]:
    """One FederateRequest child per partner, in parallel; each one's undo is registered first."""
    by_partner: dict[str, list[str]] = {}
    for f in decision.federated:
        by_partner.setdefault(f.partner, []).append(f.component)

    async def one(partner: str, names: list[str]) -> FederatedPart:
        rid = request_id(ctx.sid, partner)
        base = f"{ctx.wid}/federate/{partner}"
        step = f"federate@{partner}"
        ctx.saga.activity(f"federated@{partner}", step, FederationActivities.delete_remote, RemotePart(
            op_id=f"{base}/delete", service_id=ctx.sid, step=f"delete-remote@{partner}", partner=partner,
            request_id=rid, components=names, poll_seconds=poll_seconds))
        child = workflow.execute_child_workflow(FederateRequest.run, FederateInput(
            service_id=ctx.sid, partner=partner, request_id=rid, components=names, spec=ctx.spec,
            poll_seconds=poll_seconds), id=base)
        return await ctx.progress.track(step, f"{', '.join(names)} → partner {partner}", child)

    return await gather_all(one(partner, names) for partner, names in sorted(by_partner.items()))


async def forward_operation(ctx: Ctx, part: FederatedPart, op: Operation, base: str) -> dict:
    """A day-2 operation on a component the partner runs: the partner's operation record."""
    step = f"forward@{part.partner}"
    return await ctx.progress.track(step, f"{op.kind} {op.component} at partner {part.partner}",
                                    workflow.execute_activity_method(FederationActivities.operate, ForwardOperation(
                                        op_id=f"{base}/forward", service_id=ctx.sid, step=step, partner=part.partner,
                                        request_id=part.request_id, components=part.components,
                                        operation=op.model_dump(mode="json")), **FOLLOW))
