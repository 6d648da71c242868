"""Day-2 operations: /v1/services/{id}/components/{name}/scale|upgrade|move, PATCH /v1/services/{id},
/v1/services/{id}/clusters/{cluster}/upgrade, /v1/services/{id}/operations. Synchronous by default:
the call returns when the operation ends, or after `timeout` seconds with 202 and the operation's
URL to poll."""

from __future__ import annotations

from fastapi import APIRouter, Header, Query, Response

from legato.api.dependencies import BackendsDep, CallerDep, ContinuumDep, InventoryDep, TemporalDep
from legato.api.service_layer.service_operations import (
    check_slos,
    operation_of,
    operations_of,
    policy_warnings,
    run_operation,
    upgrade_own_cluster,
)
from legato.api.service_layer.user_locations import check_user_areas
from legato.client import Running
from legato.model.operations import (
    KubernetesVersionRequest,
    MoveRequest,
    Operation,
    OperationRecord,
    ScaleRequest,
    UpdateServiceRequest,
    UpgradeRequest,
)

router = APIRouter(prefix="/v1/services/{service_id}", tags=["operations"])


def operation_answer(response: Response, service_id: str, request_id: str,
                     result: OperationRecord | Running) -> OperationRecord | dict:
    """The record of an operation that ended; else 202 and where to follow it (with the record of one
    that waits for its maintenance window: `waiting`, and when)."""
    location = f"/v1/services/{service_id}/operations/{request_id}"
    response.headers["Location"] = location
    if isinstance(result, OperationRecord):
        if result.state == "waiting":
            response.status_code = 202
        return result
    response.status_code = 202
    return {"request_id": request_id, "state": "running", "location": location}


WAIT = Query(True, description="return when the operation ends (else 202 at once)")
TIMEOUT = Query(300.0, ge=0, le=3600, description="seconds to wait before answering 202")
KEY = Header(None, alias="Idempotency-Key", description="same as body request_id")


def _component_route(kind: str, body_type: type) -> None:
    """POST /components/{name}/<kind>: the three component operations differ only by their body."""

    async def handler(service_id: str, name: str, body, response: Response, caller: CallerDep,
                      inventory: InventoryDep, temporal: TemporalDep, wait: bool = WAIT, timeout: float = TIMEOUT,
                      idempotency_key: str | None = KEY):
        op = Operation(kind=kind, component=name, **{kind: body})
        result = await run_operation(inventory, temporal, service_id, caller, op, idempotency_key, wait, timeout)
        return operation_answer(response, service_id, op.request.request_id, result)

    handler.__annotations__["body"] = body_type
    handler.__name__ = kind
    router.post(f"/components/{{name}}/{kind}", summary=f"{kind.capitalize()} a component")(handler)


_component_route("scale", ScaleRequest)
_component_route("upgrade", UpgradeRequest)
_component_route("move", MoveRequest)


@router.patch("")
async def update_service(service_id: str, body: UpdateServiceRequest, response: Response, caller: CallerDep,
                         inventory: InventoryDep, temporal: TemporalDep, live: ContinuumDep, wait: bool = WAIT,
                         timeout: float = TIMEOUT, idempotency_key: str | None = KEY):
    await check_slos(live, inventory, caller, service_id, body)
    await check_user_areas(live, inventory, caller, service_id, body)
    op = Operation(kind="update", update=body)
    result = await run_operation(inventory, temporal, service_id, caller, op, idempotency_key, wait, timeout)
    answer = operation_answer(response, service_id, op.request.request_id, result)
    broken = await policy_warnings(live, inventory, service_id, body)
    if not broken:
        return answer
    out = answer.model_dump(mode="json") if isinstance(answer, OperationRecord) else dict(answer)
    out["warnings"] = broken
    return out


@router.post("/clusters/{cluster_id}/upgrade", summary="Upgrade the Kubernetes version of a cluster of the "
             "service's own")
async def upgrade_own_cluster_route(service_id: str, cluster_id: str, body: KubernetesVersionRequest,
                                    response: Response, caller: CallerDep, inventory: InventoryDep,
                                    temporal: TemporalDep, backends: BackendsDep, wait: bool = WAIT,
                                    timeout: float = TIMEOUT, idempotency_key: str | None = KEY):
    """A cluster created for this service, one step up (UpgradeCluster, as one of the service's
    operations): the control plane, then each node drained make-before-break and replaced. Inside
    the service's, the site's and the cluster's maintenance windows (or waiting for them)."""
    op, result = await upgrade_own_cluster(inventory, temporal, backends, service_id, cluster_id, caller, body,
                                           idempotency_key, wait, timeout)
    return operation_answer(response, service_id, op.request.request_id, result)


@router.get("/operations")
async def list_operations(service_id: str, caller: CallerDep, inventory: InventoryDep) -> list:
    return await operations_of(inventory, caller, service_id)


@router.get("/operations/{request_id}")
async def get_operation(service_id: str, request_id: str, caller: CallerDep, inventory: InventoryDep):
    return await operation_of(inventory, caller, service_id, request_id)
