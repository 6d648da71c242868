"""Telco Connectivity Manager: links between sites and user-access QoS.

The contract every backend keeps (the sim, for now); `tests/contract/test_tcm_contract.py` holds
each rule, and the next backend proves itself by passing it:

| call | rule |
|---|---|
| every mutating call | dedup on `op_id`: a repeat returns the first result and acts no more, even after later calls |
| `connect` | the caller names it: `link.id`; the same id open the same way is kept, a changed one replaced |
| | an unknown site, no known latency, a latency above `max_latency_ms` → InvalidRequest |
| | more bandwidth than the site pair has left → CapacityExhausted, `link:<a>|<b>` (sorted); nothing opens |
| `set_user_qos` | the caller names it: `qos.id`, kept or replaced like a link |
| | no known latency from the area to the site, or above `max_latency_ms` → InvalidRequest |
| `disconnect`, `clear_user_qos` | idempotent: nothing open under the id → success; a closed link frees its bandwidth |
| `list_connections` | what is open (of the service, or all): `kind` link or qos, with the latency it has |
"""

from typing import Protocol

from legato.model.connectivity import Connection, LinkRequest, QosRequest


class TCM(Protocol):
    async def connect(self, op_id: str, link: LinkRequest) -> Connection: ...

    async def disconnect(self, op_id: str, link_id: str) -> None: ...

    async def set_user_qos(self, op_id: str, qos: QosRequest) -> Connection: ...

    async def clear_user_qos(self, op_id: str, qos_id: str) -> None: ...

    async def list_connections(self, service_id: str | None = None) -> list[Connection]: ...
