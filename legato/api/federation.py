"""/v1/federation: what partner operators' Legatos call, and the list of partners.

A partner is authenticated by its signature alone (no bearer token): every call carries an
Ed25519 JWS bound to the body, route, time and a nonce (`legato.federation.signing`), checked
before anything is read or started. Its requests run as ordinary DeployService workflows under the
tenant `partner:<id>`, within its quota; it sees and changes only what it created, named by its
own request ids (legato/api/service_layer/federation_requests.py). Every answer to an
authenticated call is signed too."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ValidationError

from legato.api.dependencies import CallerDep, ContinuumDep, FederationDep, InventoryDep, TemporalDep
from legato.api.errors import status_of
from legato.api.operations import operation_answer
from legato.api.service_layer import federation_requests
from legato.api.service_layer.federation_requests import remote_service_id
from legato.api.service_layer.outcomes import Invalid, Refusal
from legato.federation.partners import Federation
from legato.federation.signing import RESPONSE_HEADER, SCHEME, SignatureRejected, sign_response, verify_request
from legato.model.federation import FederationRequest, Partner
from legato.model.operations import Operation, OperationRecord
from legato.model.status import TERMINAL_STATES

__all__ = ["remote_service_id", "router"]
router = APIRouter(prefix="/v1/federation", tags=["federation"])
Body = TypeVar("Body", bound=BaseModel)


@dataclass(frozen=True)
class PartnerCall:
    federation: Federation
    partner: Partner
    nonce: str
    body: bytes

    def reply(self, status: int, payload) -> Response:
        """A signed answer, bound to the request's nonce."""
        body = json.dumps(jsonable_encoder(payload), separators=(",", ":")).encode()
        token = sign_response(self.federation, self.partner.id, self.nonce, status, body)
        return Response(body, status_code=status, media_type="application/json", headers={RESPONSE_HEADER: token})

    def refused(self, refusal: Refusal) -> Response:
        if isinstance(refusal, Invalid):
            return self.invalid(refusal.errors)
        return self.reply(status_of(refusal), {"detail": refusal.message})

    def invalid(self, errors: list[dict]) -> Response:
        message = "; ".join(".".join(str(p) for p in e["loc"][1:]) + ": " + e["msg"] for e in errors)
        return self.reply(422, {"detail": message})

    def parse(self, model: type[Body]) -> Body | Response:
        """The body as `model`, or the signed 422 naming what is wrong with it."""
        try:
            return model.model_validate_json(self.body)
        except ValidationError as err:
            return self.invalid([{"loc": ["body", *e["loc"]], "msg": e["msg"]} for e in err.errors()])


async def partner_call(request: Request, federation: FederationDep, inventory: InventoryDep) -> PartnerCall:
    """Authenticate a federation call; 401/403 (unsigned, as the caller is not known) otherwise."""
    if federation is None:
        raise HTTPException(404, "federation is not configured here")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme != SCHEME or not token:
        raise HTTPException(401, f"federation calls must be signed ({SCHEME})")
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        verified = await asyncio.to_thread(verify_request, federation, token.strip(), request.method, path, body,
                                           inventory.remember_nonce)
    except SignatureRejected as why:
        raise HTTPException(why.status, why.reason) from None
    return PartnerCall(federation, federation.partners[verified.partner], verified.nonce, body)


PartnerCallDep = Annotated[PartnerCall, Depends(partner_call)]


@router.get("/partners", response_model=list[Partner])
async def list_partners(caller: CallerDep, federation: FederationDep) -> list[Partner]:
    """The partners as configured (never their keys)."""
    return list(federation.partners.values()) if federation else []


@router.post("/requests")
async def create_request(call: PartnerCallDep, inventory: InventoryDep, temporal: TemporalDep,
                         live: ContinuumDep) -> Response:
    """Deploy a partner's (part of a) service; idempotent on its request_id."""
    req = call.parse(FederationRequest)
    if isinstance(req, Response):
        return req
    try:
        return call.reply(202, await federation_requests.accept(inventory, temporal, live, call.partner, req))
    except Refusal as refusal:
        return call.refused(refusal)


@router.get("/requests/{request_id}")
async def get_request(request_id: str, call: PartnerCallDep, inventory: InventoryDep,
                      temporal: TemporalDep) -> Response:
    remote = await federation_requests.remote(inventory, temporal, call.partner, request_id)
    if remote is None:
        return call.refused(federation_requests.request_not_found(request_id))
    return call.reply(200, remote)


@router.delete("/requests/{request_id}")
async def delete_request(request_id: str, call: PartnerCallDep, inventory: InventoryDep,
                         temporal: TemporalDep) -> Response:
    """Tear the partner's service down (202), or say it is already gone (200); idempotent."""
    try:
        remote = await federation_requests.withdraw(inventory, temporal, call.partner, request_id)
    except Refusal as refusal:
        return call.refused(refusal)
    return call.reply(200 if remote.state in TERMINAL_STATES else 202, remote)


@router.post("/requests/{request_id}/operations")
async def operate_request(request_id: str, call: PartnerCallDep, inventory: InventoryDep, temporal: TemporalDep,
                          timeout: float = Query(20.0, ge=0, le=300)) -> Response:
    """A day-2 operation forwarded by the partner (scale or upgrade); idempotent on its request id."""
    op = call.parse(Operation)
    if isinstance(op, Response):
        return op
    try:
        result = await federation_requests.forward_operation(inventory, temporal, call.partner, request_id, op, timeout)
    except Refusal as refusal:
        return call.refused(refusal)
    except HTTPException as err:  # Temporal unreachable (503), answered signed
        return call.reply(err.status_code, {"detail": err.detail})
    answer = operation_answer(Response(), remote_service_id(call.partner.id, request_id), op.request.request_id,
                              result)
    return call.reply(200 if isinstance(result, OperationRecord) else 202, answer)
