"""Service records in the workload inventory."""

from temporalio import activity

from legato.activities.base import ActivityGroup
from legato.activities.contracts import ServiceUpdate
from legato.model import ServiceSpec


class InventoryActivities(ActivityGroup):
    @activity.defn(name="inventory.record_service")
    async def record_service(self, spec: ServiceSpec) -> None:
        await self.record(self.inventory.service_accepted, spec)

    @activity.defn(name="inventory.update_service")
    async def update_service(self, update: ServiceUpdate) -> None:
        fields = update.model_dump(exclude={"service_id"}, exclude_none=True)
        if update.error is None:
            fields["error"] = None
        await self.record(self.inventory.service_updated, update.service_id, **fields)
