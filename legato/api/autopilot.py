"""The intent database's operator half: /v1/autopilot/policy (GET for anyone: tenants may read the
bounds; PUT for an operator), and /v1/services/{id}/autopilot, the bounds that apply to one
service. The other half, a service's SLOs, is in its spec (/v1/services)."""

from __future__ import annotations

from fastapi import APIRouter

from legato.api.dependencies import CallerDep, InventoryDep
from legato.api.service_layer import autopilot_policy
from legato.inventory.autopilot_policy import AutopilotPolicyView
from legato.model.intents import AutopilotPolicy, EffectivePolicy

router = APIRouter(tags=["autopilot"])


@router.get("/v1/autopilot/policy", response_model=AutopilotPolicyView,
            summary="The operator's bounds on automatic action")
async def get_policy(caller: CallerDep, inventory: InventoryDep) -> AutopilotPolicyView:
    return await autopilot_policy.policy(inventory)


@router.put("/v1/autopilot/policy", response_model=AutopilotPolicyView,
            summary="Set the bounds on automatic action (operator; replaces the policy whole)")
async def put_policy(body: AutopilotPolicy, caller: CallerDep, inventory: InventoryDep) -> AutopilotPolicyView:
    return await autopilot_policy.set_policy(inventory, caller, body)


@router.get("/v1/services/{service_id}/autopilot", response_model=EffectivePolicy,
            summary="The bounds on automatic action on one service (the operator's, made stricter by its spec)")
async def get_service_policy(service_id: str, caller: CallerDep, inventory: InventoryDep) -> EffectivePolicy:
    return await autopilot_policy.service_policy(inventory, caller, service_id)
