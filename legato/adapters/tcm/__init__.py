"""Telco Connectivity Manager: links between sites and user-access QoS."""

from typing import Protocol

from legato.model.connectivity import Connection, LinkRequest, QosRequest


class TCM(Protocol):
    async def connect(self, op_id: str, link: LinkRequest) -> Connection: ...

    async def disconnect(self, op_id: str, link_id: str) -> None: ...

    async def set_user_qos(self, op_id: str, qos: QosRequest) -> Connection: ...

    async def clear_user_qos(self, op_id: str, qos_id: str) -> None: ...

    async def list_connections(self, service_id: str | None = None) -> list[Connection]: ...
