"""Maintenance windows, read again by a service's workflow when a window an operation waited for
opens: they may have changed meanwhile (legato/maintenance.py says which apply)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel
from temporalio import activity

from legato.activities.base import ActivityGroup
from legato.maintenance import MaintenanceGate, NoCommonWindow
from legato.model.operations import Operation, WindowWait


class WindowQuery(BaseModel):
    service_id: str
    operation: Operation
    at: datetime  # the workflow's time, so the answer is about the moment it asks


class WindowCheck(BaseModel):
    """`wait` None and `refusal` None: the operation may run now."""

    wait: WindowWait | None = None
    refusal: str | None = None


class MaintenanceActivities(ActivityGroup):
    @activity.defn(name="maintenance.window")
    async def window(self, query: WindowQuery) -> WindowCheck:
        gate = MaintenanceGate(self.inventory)
        try:
            wait = await asyncio.to_thread(gate.check, query.service_id, query.operation, query.at)
        except NoCommonWindow as never:
            return WindowCheck(refusal=f"refused: {never}")
        return WindowCheck(wait=wait)
