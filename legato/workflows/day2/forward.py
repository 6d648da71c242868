"""An operation on a component a partner runs: forwarded to the partner, its outcome ours."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.model.federation import FederatedPart
    from legato.model.operations import Operation
    from legato.workflows.day2.context import Refused, RolledBack, ServiceContext
    from legato.workflows.federate_request import forward_operation


async def forward(svc: ServiceContext, op: Operation, part: FederatedPart, base: str) -> str:
    record = await forward_operation(svc.ctx(), part, op, base)
    detail = f"at partner {part.partner}: {record.get('detail', '')}"
    state = record.get("state")
    if state == "refused":
        raise Refused(detail)
    if state == "rolled-back":
        raise RolledBack(detail)
    if state != "succeeded":
        raise ApplicationError(detail, type="PartnerOperationFailed")
    changes = (
        {"replicas": op.scale.replicas}
        if op.kind == "scale"
        else {"version": op.upgrade.version, "image": op.upgrade.image or svc.entity.spec.component(op.component).image}
    )
    svc.entity.spec = svc.entity.spec.with_component(op.component, **changes)
    return detail
