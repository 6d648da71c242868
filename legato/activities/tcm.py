"""TCM activities: links between components' sites and user-access QoS; mirrored into the inventory."""

from temporalio import activity

from legato.activities.base import ActivityGroup, maps_adapter_errors
from legato.activities.contracts import Connect, Disconnect, SetQos
from legato.adapters.tcm import TCM
from legato.inventory import Inventory
from legato.inventory.tables import ConnectionRow
from legato.model.connectivity import Connection


class TCMActivities(ActivityGroup):
    def __init__(self, tcm: TCM, inventory: Inventory):
        super().__init__(inventory)
        self.tcm = tcm

    async def _made(self, req: Connect | SetQos, conn: Connection) -> Connection:
        row = ConnectionRow(
            id=conn.id, service_id=req.service_id, kind=conn.kind, description=req.description,
            latency_ms=conn.latency_ms,
        )

        def write() -> None:
            self.inventory.connection_made(row)
            if isinstance(req, Connect):  # the link's bandwidth is held now, no longer only reserved
                link = req.link
                self.inventory.link_held(conn.id, req.service_id, link.source_site, link.target_site,
                                         link.bandwidth_mbps, req.reservation)

        await self.mirror(req, f"{req.description} ({conn.latency_ms:g} ms)", write)
        return conn

    @activity.defn(name="tcm.connect")
    @maps_adapter_errors
    async def connect(self, req: Connect) -> Connection:
        return await self._made(req, await self.tcm.connect(req.op_id, req.link))

    @activity.defn(name="tcm.set_user_qos")
    @maps_adapter_errors
    async def set_user_qos(self, req: SetQos) -> Connection:
        return await self._made(req, await self.tcm.set_user_qos(req.op_id, req.qos))

    @activity.defn(name="tcm.disconnect")
    @maps_adapter_errors
    async def disconnect(self, req: Disconnect) -> None:
        if req.kind == "qos":
            await self.tcm.clear_user_qos(req.op_id, req.connection_id)
        else:
            await self.tcm.disconnect(req.op_id, req.connection_id)
        await self.mirror(req, req.connection_id, self.inventory.connection_removed, req.connection_id)
