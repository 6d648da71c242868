"""Physical Infrastructure Manager: bare-metal hosts per site."""

from typing import Protocol

from legato.model import Host


class PIM(Protocol):
    async def list_hosts(self, site: str | None = None) -> list[Host]: ...

    async def allocate_hosts(self, op_id: str, site: str, host_ids: list[str], owner: str) -> list[Host]:
        """Take exactly these free hosts, power them on. CapacityExhausted naming every host of
        the request that is taken (`resources`: `host:<id>`) if one is."""
        ...

    async def release_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str]) -> list[str]:
        """Power off and free the hosts that `allocation_op_id` took; others are left alone."""
        ...

    async def transfer_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str], owner: str) -> list[str]:
        """Hand the hosts `allocation_op_id` took to another owner (a shared cluster's pool),
        powered on as they are; from then on they are held under `op_id` (release them with
        `allocation_op_id=op_id`). Idempotent; hosts not held by `allocation_op_id` are skipped."""
        ...
