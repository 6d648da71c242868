"""The operator's autopilot policy (read by anyone, set by an operator) and the policy that bounds
automatic action on one service (`effective_policy`: the operator's, made stricter by its spec)."""

from __future__ import annotations

import asyncio

from legato.api.auth import Caller
from legato.api.service_layer.outcomes import Forbidden, Invalid
from legato.api.service_layer.services_view import visible_service
from legato.inventory import Inventory
from legato.inventory.autopilot_policy import AutopilotPolicyView
from legato.model import ServiceSpec
from legato.model.intents import AutopilotPolicy, EffectivePolicy, effective_policy


async def policy(inventory: Inventory) -> AutopilotPolicyView:
    return await asyncio.to_thread(inventory.autopilot_policy)


async def set_policy(inventory: Inventory, caller: Caller, body: AutopilotPolicy) -> AutopilotPolicyView:
    """Replace the policy; every site it names must exist (a typo would otherwise forbid a site
    nobody meant to forbid, and allow none of those meant)."""
    if not caller.admin:
        raise Forbidden("the autopilot policy is an operator's to set: use the operator's token")
    def unknown_sites() -> list[tuple[int, str]]:
        with inventory.session():  # one transaction for all the lookups
            return [(i, site) for i, site in enumerate(body.allowed_sites or []) if not inventory.site_exists(site)]

    unknown = await asyncio.to_thread(unknown_sites)
    if unknown:
        raise Invalid([{"loc": ["body", "allowed_sites", i], "type": "unknown_site",
                        "msg": f"allowed_sites: unknown site '{site}'"} for i, site in unknown])
    return await asyncio.to_thread(inventory.autopilot_policy_set, body, caller.tenant)


async def service_policy(inventory: Inventory, caller: Caller, service_id: str) -> EffectivePolicy:
    """What bounds automatic action on the caller's service now: the operator's policy, made
    stricter by the service's spec (its `autopilot` and its policy's `max_cost_per_hour`)."""
    row = await visible_service(inventory, caller, service_id)
    spec = ServiceSpec.model_validate(row.spec)
    return effective_policy(await asyncio.to_thread(inventory.autopilot_policy), spec)
