"""Rebalancing: find moves worth making (pure placement over the inventory), and carry one out
through the service's own workflow, as an operator's move would be."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from legato.activities.base import ActivityGroup, maps_adapter_errors
from legato.activities.contracts import ExecuteProposal, RebalanceScan
from legato.client import NotRunning, Refused, ServiceClient
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.maintenance import MaintenanceGate
from legato.model.operations import OperationRecord
from legato.model.proposals import MoveOption, Proposal
from legato.placement.rebalance import Running, best_move, by_gain


class RebalanceActivities(ActivityGroup):
    def __init__(self, inventory: Inventory, live: LiveContinuum):
        super().__init__(inventory)
        self.live = live

    @activity.defn(name="rebalance.scan")
    @maps_adapter_errors
    async def scan(self, req: RebalanceScan) -> list[Proposal]:
        inv = self.inventory
        running = [Running(spec, sites) for spec, sites in await self.record(inv.running_services)]
        usage = await self.record(inv.usage)

        def scan() -> list[MoveOption]:
            options = []
            for service in running:  # the shared copy is held one service at a time: deployments go on
                with self.live.use() as (_, index):
                    option = best_move(service, index, usage, req.min_gain)
                if option is not None:
                    options.append(option)
            return by_gain(options)

        options = await asyncio.to_thread(scan)
        info = activity.info()
        scan_id = f"{info.workflow_run_id[:8]}"  # a retried scan records the same proposals
        return await self.record(inv.proposals_found, options, [r.spec.id for r in running], scan_id)

    @activity.defn(name="rebalance.execute")
    @maps_adapter_errors
    async def execute(self, req: ExecuteProposal) -> Proposal:
        """Approve and run one proposal, waiting for the move to end (heartbeating meanwhile). A
        service busy with another operation, or gone, leaves the proposal for a later run."""
        inv = self.inventory
        proposal = await self.record(inv.proposal, req.proposal_id)
        if proposal is None:
            raise ApplicationError(f"proposal {req.proposal_id} not found", type="NotFound")
        if proposal.state == "pending":
            await self.record(inv.proposal_decided, proposal.id, "approved", req.by, only_from=("pending",))
        elif proposal.state != "approved":
            return proposal  # decided meanwhile (rejected by an operator, superseded...)
        services = ServiceClient(activity.client(), activity.info().task_queue, windows=MaintenanceGate(inv))
        # Outside the maintenance windows, the move is refused rather than held: the proposal stays
        # pending, and is approved again (by the next scan in auto mode) inside a window.
        move = proposal.operation(req.by)
        move.move.outside_window = "refuse"
        try:
            record = await services.operate(proposal.service_id, move)
        except Refused as refused:
            if refused.kind in ("Busy", "OutsideMaintenanceWindow"):
                await self.record(inv.proposal_decided, proposal.id, "pending", detail=f"not yet: {refused.message}")
                return await self.record(inv.proposal, proposal.id)
            record = OperationRecord(request_id=proposal.id, kind="move", state="refused", detail=refused.message)
        except NotRunning as gone:
            record = OperationRecord(request_id=proposal.id, kind="move", state="refused", detail=str(gone))
        state = "done" if record.state == "succeeded" else "failed"
        return await self.record(inv.proposal_decided, proposal.id, state, detail=f"move {record.state}: "
                                 f"{record.detail}".rstrip(": "), only_from=("approved",))
