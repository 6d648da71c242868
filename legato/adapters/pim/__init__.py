"""Physical Infrastructure Manager: bare-metal hosts per site."""

from typing import Protocol

from legato.model import Host


class PIM(Protocol):
    async def list_hosts(self, site: str | None = None) -> list[Host]: ...

    async def allocate_hosts(self, op_id: str, site: str, host_ids: list[str], owner: str) -> list[Host]:
        """Take exactly these free hosts, power them on. CapacityExhausted if one is taken."""
        ...

    async def release_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str]) -> list[str]:
        """Power off and free the hosts that `allocation_op_id` took; others are left alone."""
        ...
