"""An approval carried out by a workflow of its own (ApplyProposal, ApplyAutopilotAction), so it
survives an API restart and approving twice runs it once: the workflow id is the approval's."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from legato.api.dependencies import Temporal


async def run_once(temporal: Temporal, run: Any, arg: Any, workflow_id: str, wait: float | None) -> bool:
    """Start `run(arg)` as `workflow_id` unless it was started already; whether it is over within
    `wait` seconds (None: not waited for)."""
    client = await temporal.client()
    try:
        handle = await client.start_workflow(run, arg, id=workflow_id, task_queue=temporal.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(workflow_id)
    if wait is None:
        return False
    try:
        await asyncio.wait_for(handle.result(), wait)
        return True
    except TimeoutError:
        return False
