"""PIM activities: hosts are allocated and released here, and mirrored into the inventory."""

from temporalio import activity

from legato.activities.base import ActivityGroup, maps_adapter_errors
from legato.activities.contracts import AllocateHosts, ReleaseHosts, TransferHosts
from legato.adapters.errors import CapacityExhausted
from legato.adapters.pim import PIM
from legato.inventory import Inventory
from legato.model import Host


class PIMActivities(ActivityGroup):
    def __init__(self, pim: PIM, inventory: Inventory):
        super().__init__(inventory)
        self.pim = pim

    @activity.defn(name="pim.allocate_hosts")
    @maps_adapter_errors
    async def allocate_hosts(self, req: AllocateHosts) -> list[Host]:
        try:
            hosts = await self.pim.allocate_hosts(req.op_id, req.site, req.host_ids, owner=req.service_id)
        except CapacityExhausted as refused:  # taken outside Legato: no placement may count on them again
            taken = [r.removeprefix("host:") for r in refused.resources if r.startswith("host:")]
            await self.record(self.inventory.hosts_taken_elsewhere, taken)
            raise
        await self.mirror(req, ", ".join(h.id for h in hosts), self.inventory.hosts_allocated, hosts, req.op_id)
        return hosts

    @activity.defn(name="pim.release_hosts")
    @maps_adapter_errors
    async def release_hosts(self, req: ReleaseHosts) -> list[str]:
        released = await self.pim.release_hosts(req.op_id, req.allocation_op_id, req.host_ids)
        await self.mirror(req, ", ".join(released), self.inventory.hosts_released, released)
        return released

    @activity.defn(name="pim.transfer_hosts")
    @maps_adapter_errors
    async def transfer_hosts(self, req: TransferHosts) -> list[str]:
        """Hosts handed to a shared cluster's pool: their nodes still run other services' pods."""
        moved = await self.pim.transfer_hosts(req.op_id, req.allocation_op_id, req.host_ids, req.owner)
        await self.mirror(req, f"{', '.join(moved)} to {req.owner}", self.inventory.hosts_transferred, moved,
                          req.owner, req.op_id)
        return moved
