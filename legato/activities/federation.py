"""Federation activities (home side): send a part of a service to a partner, follow it to a terminal
state, delete it, forward a day-2 operation. Each is idempotent on our request id, heartbeats while
it waits, and mirrors the part into the inventory."""

from __future__ import annotations

import asyncio
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from legato.activities.base import ActivityGroup, maps_adapter_errors
from legato.activities.contracts import ForwardOperation, RemotePart, SendFederation
from legato.adapters.errors import InvalidRequest, NotFound, PermanentFault
from legato.federation.client import PartnerClient, PartnerRefused, PartnerUnavailable
from legato.federation.decide import remote_spec
from legato.federation.partners import Federation
from legato.inventory import Inventory
from legato.inventory.federation import UNSENT
from legato.inventory.tables import FederatedPartRow
from legato.model.federation import FederationRequest, RemoteService

UNREACHABLE_SECONDS = 300.0  # how long a followed partner may stay silent before the request fails
TERMINAL = {"active", "failed", "terminated"}


class FederationActivities(ActivityGroup):
    def __init__(self, federation: Federation | None, inventory: Inventory):
        super().__init__(inventory)
        self.federation = federation

    def _client(self, partner_id: str) -> PartnerClient:
        partner = self.federation.partner(partner_id) if self.federation else None
        if partner is None:
            raise InvalidRequest(f"partner '{partner_id}' is not configured (LEGATO_FEDERATION_FILE)")
        return PartnerClient(self.federation, partner)

    async def _mirror(self, req: RemotePart, remote: RemoteService | None, state: str | None = None) -> None:
        row = FederatedPartRow(request_id=req.request_id, service_id=req.service_id, partner=req.partner,
                               components=req.components, remote_id=remote.remote_id if remote else "",
                               state=state or (remote.state if remote else "requested"),
                               endpoints=[e.model_dump() for e in remote.endpoints] if remote else [])
        await self.mirror(req, f"partner {req.partner}: {row.state} {row.remote_id}".strip(),
                          self.inventory.federated_part_recorded, row)

    @activity.defn(name="federation.send")
    @maps_adapter_errors
    async def send(self, req: SendFederation) -> RemoteService:
        """POST the part; a partner down is retried by Temporal up to the partner's `max_attempts`,
        then the request fails for good (and the service rolls back). The inventory knows, before
        and after each try, whether the partner may hold the part, so the compensation deletes it
        there or knows there is nothing to delete."""
        client = self._client(req.partner)
        body = FederationRequest(request_id=req.request_id, origin_service=req.service_id,
                                 spec=remote_spec(req.spec, set(req.components), client.partner))
        await self.record(self.inventory.federated_part_sending, FederatedPartRow(
            request_id=req.request_id, service_id=req.service_id, partner=req.partner, components=req.components))
        try:
            remote = await client.create(body)
        except PartnerUnavailable as err:
            if not err.delivered:
                await self.record(self.inventory.federated_part_unsent, req.request_id, "undelivered")
            if activity.info().attempt >= client.partner.max_attempts:
                raise ApplicationError(f"{err} (gave up after {client.partner.max_attempts} attempts)",
                                       type="PartnerUnavailable", non_retryable=True) from None
            raise
        except PartnerRefused:
            await self.record(self.inventory.federated_part_unsent, req.request_id, "refused")
            raise
        await self._mirror(req, remote)
        return remote

    @activity.defn(name="federation.follow")
    @maps_adapter_errors
    async def follow(self, req: RemotePart) -> RemoteService:
        """Poll until the partner's service is active (or failed): a partner that crashes and comes
        back is simply polled again; one silent for UNREACHABLE_SECONDS fails the request."""
        client = self._client(req.partner)
        silent_since: float | None = None
        while True:
            try:
                remote = await client.get(req.request_id)
                silent_since = None
            except PartnerUnavailable:
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since > UNREACHABLE_SECONDS:
                    raise
                remote = RemoteService(request_id=req.request_id, remote_id="", state="unreachable")
            if remote is None:
                raise NotFound(f"partner {req.partner} lost request {req.request_id}")
            if remote.state in TERMINAL:
                await self._mirror(req, remote)
                if remote.state != "active":
                    cause = remote.error or "no cause given"
                    raise PermanentFault(f"at partner {req.partner}: {remote.state}: {cause}")
                return remote
            activity.heartbeat(remote.state)
            await asyncio.sleep(req.poll_seconds)

    @activity.defn(name="federation.delete_remote")
    @maps_adapter_errors
    async def delete_remote(self, req: RemotePart) -> None:
        """Compensation: remove the part at the partner and wait until it is gone there. Idempotent:
        a part never created, or already removed, is fine."""
        row = await self.record(self.inventory.federated_part, req.request_id)
        if row is None or row.state in UNSENT:
            await self.mirror(req, f"partner {req.partner}: never received it, nothing to delete",
                              self.inventory.federated_part_removed, req.request_id)
            return
        client = self._client(req.partner)
        remote = await client.delete(req.request_id)
        while remote is not None and remote.state not in ("terminated", "failed"):
            activity.heartbeat(remote.state)
            await asyncio.sleep(req.poll_seconds)
            remote = await client.get(req.request_id)
        await self.mirror(req, f"partner {req.partner}: removed", self.inventory.federated_part_removed,
                          req.request_id)

    @activity.defn(name="federation.operate")
    @maps_adapter_errors
    async def operate(self, req: ForwardOperation) -> dict:
        """A day-2 operation on a component the partner runs; asked again while it runs (the partner
        answers a retry with the first outcome)."""
        client = self._client(req.partner)
        while True:
            status, record = await client.operate(req.request_id, req.operation)
            if status == 200:
                await self.mirror(req, f"partner {req.partner}: {record.get('state')}")
                return record
            activity.heartbeat("running at the partner")
            await asyncio.sleep(req.poll_seconds)
