"""What a partner operator's Legato asks of this one, once its call is authenticated: deploy (part
of) a service under the tenant `partner:<id>` within its quota, read it, tear it down, forward a
day-2 operation to it. The partner names its requests by its own ids; each becomes a local service
whose id derives from the partner and the request id, so a retry finds it again."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException

from legato.api.auth import Caller
from legato.api.dependencies import Temporal
from legato.api.service_layer import service_lifecycle
from legato.api.service_layer.outcomes import Conflict, Forbidden, Invalid, NotFound, QuotaExceeded
from legato.api.service_layer.service_operations import run_operation
from legato.client import Running
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.model import ServiceSpec
from legato.model.federation import FederationRequest, Partner, RemoteService, partner_tenant
from legato.model.names import short_hash
from legato.model.operations import Operation, OperationRecord
from legato.model.status import TERMINAL_STATES
from legato.validation import continuum_errors

FORWARDED_KINDS = ("scale", "upgrade")


def remote_service_id(partner: str, request_id: str) -> str:
    """Our service id for a partner's request: deterministic, so a retried request finds it again,
    and scoped by partner, so one partner can never name another's."""
    return "fed-" + short_hash(partner + "\n" + request_id, 16)


def request_not_found(request_id: str) -> NotFound:
    return NotFound(f"request '{request_id}' not found")


async def remote(inventory: Inventory, temporal: Temporal, partner: Partner, request_id: str) -> RemoteService | None:
    """The partner's request as it stands here, or None if it never reached us (or is not its own)."""
    tenant = partner_tenant(partner.id)
    service_id = remote_service_id(partner.id, request_id)
    row = await asyncio.to_thread(inventory.service, service_id)
    if row is not None:
        if row.tenant != tenant:
            return None
        return RemoteService(request_id=request_id, remote_id=service_id, state=row.state, error=row.error,
                             endpoints=row.endpoints or [])
    try:  # started, but its first inventory write has not happened yet
        described = await (await temporal.services()).handle(service_id).describe()
        memo = await described.memo()
    except Exception:  # noqa: BLE001 - no such workflow
        return None
    if memo.get("tenant") != tenant:
        return None
    return RemoteService(request_id=request_id, remote_id=service_id, state="accepted")


def check_quota(live: list, partner: Partner, spec: ServiceSpec) -> None:
    """Forbidden or QuotaExceeded when `spec` would take the partner over its quota, given its
    services not terminated or failed (`live`)."""
    quota = partner.quota
    if quota.max_services == 0:
        raise Forbidden(f"partner {partner.id} may not request services here")
    if len(live) + 1 > quota.max_services:
        raise QuotaExceeded(f"quota exceeded: {len(live)} of {quota.max_services} services of partner {partner.id} "
                            "in use")
    used = sum(c.get("cpu", 0.5) * c.get("replicas", 1) for r in live for c in r.spec.get("components", []))
    asked = sum(c.total_cpu for c in spec.components)
    if used + asked > quota.max_vcpu:
        raise QuotaExceeded(f"quota exceeded: {asked:g} vCPU asked, {used:g} of {quota.max_vcpu:g} vCPU of partner "
                            f"{partner.id} in use")


async def accept(inventory: Inventory, temporal: Temporal, continuum: LiveContinuum, partner: Partner,
                 req: FederationRequest) -> RemoteService:
    """Deploy a partner's (part of a) service; idempotent on its request_id."""
    existing = await remote(inventory, temporal, partner, req.request_id)
    if existing is not None:
        return existing
    tenant = partner_tenant(partner.id)
    check_quota(await asyncio.to_thread(inventory.live_services, tenant), partner, req.spec)
    service_id = remote_service_id(partner.id, req.request_id)
    spec = req.spec.model_copy(update={"id": service_id, "tenant": tenant, "labels": {
        **req.spec.labels, "legato/federated-from": partner.id}})
    errors = continuum_errors(spec, await asyncio.to_thread(continuum.facts))
    if errors:
        raise Invalid(errors)
    try:
        await service_lifecycle.start(await temporal.services(), spec)
    except (Conflict, HTTPException):  # a concurrent retry of the same request started it: answer as for a
        pass  # retry (so is Temporal unreachable, 503, as it always was)
    return RemoteService(request_id=req.request_id, remote_id=service_id, state="accepted")


async def withdraw(inventory: Inventory, temporal: Temporal, partner: Partner, request_id: str) -> RemoteService:
    """Tear the partner's service down (its state `terminating`), or say it is already gone; idempotent."""
    found = await remote(inventory, temporal, partner, request_id)
    if found is None:
        raise request_not_found(request_id)
    if found.state in TERMINAL_STATES:
        return found
    try:
        await service_lifecycle.terminate(await temporal.services(), found.remote_id)
    except (Conflict, HTTPException):  # already terminating (or Temporal unreachable, 503): the partner
        pass  # asks again until terminated
    return found.model_copy(update={"state": "terminating"})


async def forward_operation(inventory: Inventory, temporal: Temporal, partner: Partner, request_id: str, op: Operation,
                            timeout: float) -> OperationRecord | Running:
    """A day-2 operation forwarded by the partner (scale or upgrade); idempotent on its request id."""
    if op.kind not in FORWARDED_KINDS:
        raise Forbidden(f"a partner may only {' and '.join(FORWARDED_KINDS)} its components")
    if await remote(inventory, temporal, partner, request_id) is None:
        raise request_not_found(request_id)
    return await run_operation(inventory, temporal, remote_service_id(partner.id, request_id),
                               Caller(partner_tenant(partner.id)), op, None, True, timeout)
