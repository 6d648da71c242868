"""Physical Infrastructure Manager: bare-metal hosts per site.

The contract every backend keeps (sim, Redfish); `tests/contract/test_pim_contract.py` holds each
rule against each backend, and the next backend proves itself by passing it:

| call | rule |
|---|---|
| every mutating call | dedup on `op_id`: a repeat returns the first result and acts no more, even after later calls |
| | a call that raised recorded nothing: the same `op_id` may try again |
| `list_hosts(site)` | every host of the site (None: of all): `state`, owner as `service_id`, `power` on / off / None |
| | a topology cluster's node is allocated for good, to no service |
| `allocate_hosts` | the caller names the hosts: all or none, allocated to `owner`, powered on, in the request's order |
| | a host taken (by another op, a topology cluster) → CapacityExhausted, `host:<id>` for each taken |
| | a host not of `site`, a site the backend does not serve, an empty `owner` → InvalidRequest |
| `release_hosts` | idempotent: frees and powers off what `allocation_op_id` holds; other hosts untouched; none: `[]` |
| `transfer_hosts` | hands what `allocation_op_id` holds to `owner` as it is (on); `op_id` holds it from then on |
| | hosts `allocation_op_id` does not hold are skipped; an empty `owner` → InvalidRequest |
| faults | no answer → TransientFault (retry with the same `op_id`); refused for good → PermanentFault |

Beyond the table: the sim also refuses to release a host that is still a node of a cluster
(InvalidRequest), since it sees the clusters too; a BMC cannot.
"""

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
