"""PIM backend on the simulated continuum (the embedded default); the logic lives in SimContinuum."""

from __future__ import annotations

import asyncio

from legato.model import Host
from legato.simulator import SimContinuum


class SimPIM:
    """Bare-metal hosts of the simulated continuum."""

    def __init__(self, continuum: SimContinuum) -> None:
        self.continuum = continuum

    async def list_hosts(self, site: str | None = None) -> list[Host]:
        return await asyncio.to_thread(self.continuum.hosts, site)

    async def allocate_hosts(self, op_id: str, site: str, host_ids: list[str], owner: str) -> list[Host]:
        return await self.continuum.allocate_hosts(op_id, site, host_ids, owner)

    async def release_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str]) -> list[str]:
        return await self.continuum.release_hosts(op_id, allocation_op_id, host_ids)

    async def transfer_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str], owner: str) -> list[str]:
        return await self.continuum.transfer_hosts(op_id, allocation_op_id, host_ids, owner)
