"""/healthz (the process answers: any valid token) and /readyz (Temporal reachable, inventory
reachable, a worker polling the task queue: the operator's token only, 403 for a tenant, since it
describes the installation rather than a tenant's services). Probes send the operator's token."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from legato.api.dependencies import CallerDep, InventoryDep, OperatorDep, Temporal, TemporalDep
from legato.inventory import Inventory

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(_: CallerDep) -> dict:
    return {"status": "ok"}


async def _temporal(temporal: Temporal) -> str:
    client = await temporal.client()
    await asyncio.wait_for(client.service_client.check_health(), timeout=3)
    return "ok"


def _database(inventory: Inventory) -> str:
    with inventory.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return "ok"


async def _worker(temporal: Temporal) -> str:
    client = await temporal.client()
    resp = await asyncio.wait_for(client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=temporal.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)), timeout=3)
    if not resp.pollers:
        raise RuntimeError(f"no worker polls task queue {temporal.task_queue}")
    return f"{len(resp.pollers)} poller(s)"


@router.get("/readyz")
async def readyz(_: OperatorDep, temporal: TemporalDep, inventory: InventoryDep) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, check in (("temporal", _temporal(temporal)), ("database", asyncio.to_thread(_database, inventory)),
                        ("worker", _worker(temporal))):
        try:
            checks[name] = await check
        except Exception as err:  # noqa: BLE001 - reported per check; no stack trace to the caller
            detail = getattr(err, "detail", None) or type(err).__name__
            checks[name] = f"failing: {detail if not isinstance(err, RuntimeError) else err}"
    ready = all(not v.startswith("failing") for v in checks.values())
    return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, "checks": checks})
