"""A service's schedules, removed when the service goes (its workflow asks as it tears down) or
when a run finds the service gone. Client-side activities: schedules are Temporal client calls.
(What a run sends to the service is in scheduled_runs.py.)"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from legato import service_schedules
from legato.activities.base import ActivityGroup
from legato.temporal import search_attributes_registered


class ServiceSchedules(BaseModel):
    service_id: str
    tenant: str


class ScheduleActivities(ActivityGroup):
    async def indexed(self) -> bool:
        """Whether the namespace has Legato's search attributes (asked once per worker)."""
        if getattr(self, "_indexed", None) is None:
            self._indexed = await search_attributes_registered(activity.client())
        return self._indexed

    @activity.defn(name="schedules.remove_all")
    async def remove_all(self, ref: ServiceSchedules) -> int:
        """Every schedule of a service that is going (its workflow asks, as it tears down)."""
        return await service_schedules.delete_all(activity.client(), ref.tenant, ref.service_id,
                                                  await self.indexed())

    @activity.defn(name="schedules.forget")
    async def forget(self, schedule_id: str) -> bool:
        """One schedule whose service is gone (a run found it so): removed; False if it was already."""
        return await service_schedules.delete(activity.client(), schedule_id)
