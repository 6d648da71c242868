"""Starting and removing services: a spec made the tenant's own and checked against the continuum,
its DeployService started; a removal asked of the service's workflow."""

from __future__ import annotations

import asyncio
import secrets

from opentelemetry import trace

from legato.api.auth import Caller
from legato.api.dependencies import Temporal
from legato.api.schemas import Accepted
from legato.api.service_layer.outcomes import Conflict, Invalid
from legato.api.service_layer.services_view import visible_service
from legato.client import AlreadyExists, NotRunning, Refused, ServiceClient
from legato.federation.partners import Federation
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.model import ServiceSpec
from legato.model.service import scoped_id, slug
from legato.model.status import TERMINAL_STATES
from legato.validation import continuum_errors


async def create(temporal: Temporal, live: LiveContinuum, federation: Federation | None, spec: ServiceSpec,
                 tenant: str) -> Accepted:
    """Make the spec `tenant`'s own, check it against the continuum (Invalid, each field named)
    and start it."""
    spec = spec.model_copy(update={
        "tenant": tenant,
        # A chosen id is made the tenant's own, so no tenant can collide with another's (a 409
        # would tell that it exists); a generated one is random.
        "id": scoped_id(tenant, spec.id) if spec.id else f"{slug(spec.name)}-{secrets.token_hex(3)}",
    })
    trace.get_current_span().set_attribute("legato.service_id", spec.id)
    areas = federation.serving_areas() if federation else set()
    errors = continuum_errors(spec, await asyncio.to_thread(live.facts), areas,
                              federated=bool(federation and federation.partners))
    if errors:
        raise Invalid(errors)
    return await start(await temporal.services(), spec)


async def start(services: ServiceClient, spec: ServiceSpec) -> Accepted:
    """Start DeployService for a validated spec (id and tenant set); Conflict if the id is in use."""
    try:
        workflow_id = await services.start(spec)
    except AlreadyExists as err:
        raise Conflict(str(err)) from None
    return Accepted(id=spec.id, workflow_id=workflow_id, state="accepted", location=f"/v1/services/{spec.id}")


async def remove(inventory: Inventory, temporal: Temporal, caller: Caller, service_id: str) -> Accepted:
    row = await visible_service(inventory, caller, service_id)
    if row.state in TERMINAL_STATES:
        raise Conflict(f"service '{service_id}' is already {row.state}: nothing to remove")
    workflow_id = await terminate(await temporal.services(), service_id)
    return Accepted(id=service_id, workflow_id=workflow_id, state="terminating", location=f"/v1/services/{service_id}")


async def terminate(services: ServiceClient, service_id: str) -> str:
    """Ask the service's workflow to tear everything down; Conflict if it cannot now."""
    try:
        return await services.terminate(service_id)
    except (Refused, NotRunning) as err:
        raise Conflict(f"service '{service_id}' cannot be removed now: {err}") from None
