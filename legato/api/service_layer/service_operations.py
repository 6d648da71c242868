"""Day-2 operations on a service (scale, upgrade, move, update, and the upgrade of a cluster of its
own), sent to its workflow as one `operate` update, and the records of the operations it ran."""

from __future__ import annotations

import asyncio
import uuid

from pydantic import ValidationError

from legato.api.auth import Caller
from legato.api.dependencies import Backends, Temporal
from legato.api.service_layer.cluster_upgrades import busy_with, upgrade_request
from legato.api.service_layer.outcomes import Conflict, Invalid, NotFound, Refusal, Unprocessable
from legato.api.service_layer.services_view import visible_service
from legato.client import NotRunning, Refused, Running
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.inventory.tables import ServiceOperationRow
from legato.model import ServiceSpec
from legato.model.operations import (
    KubernetesVersionRequest,
    Operation,
    OperationRecord,
    OwnClusterUpgradeRequest,
    UpdateServiceRequest,
)
from legato.validation import slo_latency_errors

# What each refusal of the workflow's validator is, for the caller.
REFUSALS: dict[str, type[Refusal]] = {"Busy": Conflict, "InvalidState": Conflict, "NotFound": NotFound,
                                      "InvalidOperation": Unprocessable, "IdempotencyMismatch": Unprocessable,
                                      "OutsideMaintenanceWindow": Conflict}


async def run_operation(inventory: Inventory, temporal: Temporal, service_id: str, caller: Caller, op: Operation,
                        idempotency_key: str | None, wait: bool, timeout: float) -> OperationRecord | Running:
    """A day-2 operation on a caller's service (the native API and a partner's forwarded
    operations): its record once it ends, or Running if it has not when the wait is over."""
    row = await visible_service(inventory, caller, service_id)
    body = op.request
    body.request_id = body.request_id or idempotency_key or uuid.uuid4().hex
    body.requested_by = caller.tenant
    if op.kind == "move" and op.move.site is not None:
        if not await asyncio.to_thread(inventory.site_exists, op.move.site):
            raise Invalid([{"loc": ["body", "site"], "msg": f"unknown site '{op.move.site}'", "type": "unknown_site"}])
    try:
        return await (await temporal.services()).operate(service_id, op, (timeout if wait else 0) or 0)
    except Refused as refused:
        raise REFUSALS.get(refused.kind, Conflict)(refused.message) from None
    except NotRunning:
        raise Conflict(f"service '{service_id}' is {row.state}: it takes no more operations") from None


async def upgrade_own_cluster(
    inventory: Inventory, temporal: Temporal, backends: Backends, service_id: str, cluster_id: str, caller: Caller,
    body: KubernetesVersionRequest, idempotency_key: str | None, wait: bool, timeout: float,
) -> tuple[Operation, OperationRecord | Running]:
    """A cluster the service created for itself, one Kubernetes step up, as one of its operations.
    Checked like an operator's upgrade before the service is asked: the cluster is the service's
    own (any other is unknown to its tenant: 404), the step is one its MCM allows (422), nothing
    else runs on the cluster (409)."""
    await visible_service(inventory, caller, service_id)
    cluster = await asyncio.to_thread(inventory.cluster, cluster_id)
    if cluster is None or cluster.shared or cluster.service_id != service_id:
        raise NotFound(f"service '{service_id}' has no cluster of its own named '{cluster_id}' (a shared cluster "
                       "is upgraded by the operator)")
    known = await asyncio.to_thread(inventory.service_operation, body.request_id or idempotency_key or "")
    if known is None or known.service_id != service_id:  # a retry gets its first outcome from the workflow
        await upgrade_request(inventory, backends, cluster_id, body.version)
        busy = await busy_with(inventory, temporal, cluster_id, "")
        if busy:
            raise Conflict(f"cluster {cluster_id} is busy: {busy} runs on it; ask again once it is over")
    op = Operation(kind="cluster_upgrade", cluster_upgrade=OwnClusterUpgradeRequest(
        cluster_id=cluster_id, **body.model_dump(exclude_unset=True)))
    return op, await run_operation(inventory, temporal, service_id, caller, op, idempotency_key, wait, timeout)


async def check_slos(live: LiveContinuum, inventory: Inventory, caller: Caller, service_id: str,
                     body: UpdateServiceRequest) -> None:
    """New SLOs checked against the service's spec and the continuum as at creation, each error
    naming its field (the service's workflow checks them against the spec again, as it holds it)."""
    if body.slos is None:
        return
    row = await visible_service(inventory, caller, service_id)
    try:
        spec = ServiceSpec.model_validate({**row.spec, "slos": [s.model_dump() for s in body.slos]})
    except ValidationError as err:
        raise Invalid([{"loc": ["body", "slos"], "type": "invalid_slos", "msg": e["msg"].removeprefix("Value error, ")}
                       for e in err.errors()]) from None
    errors = slo_latency_errors(spec, await asyncio.to_thread(live.facts))
    if errors:
        raise Invalid(errors)


async def policy_warnings(live: LiveContinuum, inventory: Inventory, service_id: str,
                          body: UpdateServiceRequest) -> list[str]:
    """Components that run where the new policy no longer allows: updated all the same (the policy
    is what later placements apply; nothing moves by itself), but the caller hears it."""
    if body.policy is None:
        return []
    facts = await asyncio.to_thread(live.facts)
    policy, found = body.policy, []
    for comp in await asyncio.to_thread(inventory.components, service_id):
        site = facts.sites.get(comp.site)
        if site is None:
            continue
        if policy.allowed_countries is not None and site.country not in policy.allowed_countries:
            found.append(f"{comp.name} runs at {comp.site} in {site.country}, not in allowed_countries "
                         f"{policy.allowed_countries}: move it to comply")
        if policy.allowed_providers is not None and site.provider not in policy.allowed_providers:
            found.append(f"{comp.name} runs at {comp.site} of {site.provider}, not in allowed_providers "
                         f"{policy.allowed_providers}: move it to comply")
    return found


async def operations_of(inventory: Inventory, caller: Caller, service_id: str) -> list[ServiceOperationRow]:
    await visible_service(inventory, caller, service_id)
    return await asyncio.to_thread(inventory.service_operations, service_id)


async def operation_of(inventory: Inventory, caller: Caller, service_id: str, request_id: str) -> ServiceOperationRow:
    await visible_service(inventory, caller, service_id)
    row = await asyncio.to_thread(inventory.service_operation, request_id)
    if row is None or row.service_id != service_id:
        raise NotFound(f"operation '{request_id}' not found")
    return row
