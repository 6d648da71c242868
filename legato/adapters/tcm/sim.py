"""TCM backend on the simulated continuum (the embedded default); the logic lives in SimContinuum."""

from __future__ import annotations

import asyncio

from legato.model.connectivity import Connection, LinkRequest, QosRequest
from legato.simulator import SimContinuum


class SimTCM:
    """Links and user-access QoS on the simulated continuum, checked against its topology."""

    def __init__(self, continuum: SimContinuum) -> None:
        self.continuum = continuum

    async def connect(self, op_id: str, link: LinkRequest) -> Connection:
        return await self.continuum.connect(op_id, link)

    async def disconnect(self, op_id: str, link_id: str) -> None:
        await self.continuum.disconnect(op_id, link_id)

    async def set_user_qos(self, op_id: str, qos: QosRequest) -> Connection:
        return await self.continuum.set_user_qos(op_id, qos)

    async def clear_user_qos(self, op_id: str, qos_id: str) -> None:
        await self.continuum.clear_user_qos(op_id, qos_id)

    async def list_connections(self, service_id: str | None = None) -> list[Connection]:
        return await asyncio.to_thread(self.continuum.connections, service_id)
