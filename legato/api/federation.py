"""/v1/federation: what partner operators' Legatos call, and the list of partners.

A partner is authenticated by its signature alone (no bearer token): every call carries an
Ed25519 JWS bound to the body, route, time and a nonce (`legato.federation.signing`), checked
before anything is read or started. Its requests run as ordinary DeployService workflows under the
tenant `partner:<id>`, within its quota; it sees and changes only what it created, named by its
own request ids. Every answer to an authenticated call is signed too."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import ValidationError

from legato.api.auth import Caller, current_caller
from legato.api.operations import run_operation
from legato.api.services import services_client, start_service, terminate_service
from legato.federation.partners import Federation
from legato.federation.signing import RESPONSE_HEADER, SCHEME, SignatureRejected, sign_response, verify_request
from legato.model import ServiceSpec
from legato.model.federation import FederationRequest, Partner, RemoteService, partner_tenant
from legato.model.names import short_hash
from legato.model.operations import Operation, OperationRecord
from legato.model.status import TERMINAL_STATES
from legato.validation import continuum_errors

router = APIRouter(prefix="/v1/federation", tags=["federation"])
FORWARDED_KINDS = ("scale", "upgrade")


def remote_service_id(partner: str, request_id: str) -> str:
    """Our service id for a partner's request: deterministic, so a retried request finds it again,
    and scoped by partner, so one partner can never name another's."""
    return "fed-" + short_hash(partner + "\n" + request_id, 16)


@dataclass(frozen=True)
class PartnerCall:
    federation: Federation
    partner: Partner
    nonce: str
    body: bytes

    @property
    def tenant(self) -> str:
        return partner_tenant(self.partner.id)

    def reply(self, status: int, payload) -> Response:
        """A signed answer, bound to the request's nonce."""
        body = json.dumps(jsonable_encoder(payload), separators=(",", ":")).encode()
        token = sign_response(self.federation, self.partner.id, self.nonce, status, body)
        return Response(body, status_code=status, media_type="application/json", headers={RESPONSE_HEADER: token})


async def partner_call(request: Request) -> PartnerCall:
    """Authenticate a federation call; 401/403 (unsigned, as the caller is not known) otherwise."""
    federation: Federation | None = request.app.state.federation
    if federation is None:
        raise HTTPException(404, "federation is not configured here")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme != SCHEME or not token:
        raise HTTPException(401, f"federation calls must be signed ({SCHEME})")
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        verified = await asyncio.to_thread(verify_request, federation, token.strip(), request.method, path, body,
                                           request.app.state.inventory.remember_nonce)
    except SignatureRejected as why:
        raise HTTPException(why.status, why.reason) from None
    return PartnerCall(federation, federation.partners[verified.partner], verified.nonce, body)


@router.get("/partners", response_model=list[Partner])
async def list_partners(request: Request, caller: Caller = Depends(current_caller)) -> list[Partner]:
    """The partners as configured (never their keys)."""
    federation: Federation | None = request.app.state.federation
    return list(federation.partners.values()) if federation else []


async def _remote(request: Request, call: PartnerCall, request_id: str) -> RemoteService | None:
    """The partner's request as it stands here, or None if it never reached us (or is not its own)."""
    service_id = remote_service_id(call.partner.id, request_id)
    row = await asyncio.to_thread(request.app.state.inventory.service, service_id)
    if row is not None:
        if row.tenant != call.tenant:
            return None
        return RemoteService(request_id=request_id, remote_id=service_id, state=row.state, error=row.error,
                             endpoints=row.endpoints or [])
    try:  # started, but its first inventory write has not happened yet
        described = await (await services_client(request)).handle(service_id).describe()
        memo = await described.memo()
    except Exception:  # noqa: BLE001 - no such workflow
        return None
    if memo.get("tenant") != call.tenant:
        return None
    return RemoteService(request_id=request_id, remote_id=service_id, state="accepted")


def _quota_refusal(rows, partner: Partner, spec: ServiceSpec) -> tuple[int, str] | None:
    quota = partner.quota
    if quota.max_services == 0:
        return 403, f"partner {partner.id} may not request services here"
    live = [r for r in rows if r.state not in TERMINAL_STATES]
    if len(live) + 1 > quota.max_services:
        return 429, f"quota exceeded: {len(live)} of {quota.max_services} services of partner {partner.id} in use"
    used = sum(c.get("cpu", 0.5) * c.get("replicas", 1) for r in live for c in r.spec.get("components", []))
    asked = sum(c.total_cpu for c in spec.components)
    if used + asked > quota.max_vcpu:
        return 429, (f"quota exceeded: {asked:g} vCPU asked, {used:g} of {quota.max_vcpu:g} vCPU of partner "
                     f"{partner.id} in use")
    return None


def _invalid(call: PartnerCall, errors: list[dict]) -> Response:
    message = "; ".join(".".join(str(p) for p in e["loc"][1:]) + ": " + e["msg"] for e in errors)
    return call.reply(422, {"detail": message})


@router.post("/requests")
async def create_request(request: Request, call: PartnerCall = Depends(partner_call)) -> Response:
    """Deploy a partner's (part of a) service; idempotent on its request_id."""
    try:
        req = FederationRequest.model_validate_json(call.body)
    except ValidationError as err:
        return _invalid(call, [{"loc": ["body", *e["loc"]], "msg": e["msg"]} for e in err.errors()])
    existing = await _remote(request, call, req.request_id)
    if existing is not None:
        return call.reply(202, existing)
    inventory = request.app.state.inventory
    rows, _ = await asyncio.to_thread(inventory.services, call.tenant, 0, 100_000)
    refusal = _quota_refusal(rows, call.partner, req.spec)
    if refusal is not None:
        return call.reply(refusal[0], {"detail": refusal[1]})
    service_id = remote_service_id(call.partner.id, req.request_id)
    spec = req.spec.model_copy(update={"id": service_id, "tenant": call.tenant, "labels": {
        **req.spec.labels, "legato/federated-from": call.partner.id}})
    errors = continuum_errors(spec, await asyncio.to_thread(request.app.state.live.facts))
    if errors:
        return _invalid(call, errors)
    try:
        await start_service(request, spec)
    except HTTPException:  # a concurrent retry of the same request started it: answer as for a retry
        pass
    return call.reply(202, RemoteService(request_id=req.request_id, remote_id=service_id, state="accepted"))


@router.get("/requests/{request_id}")
async def get_request(request_id: str, request: Request, call: PartnerCall = Depends(partner_call)) -> Response:
    remote = await _remote(request, call, request_id)
    if remote is None:
        return call.reply(404, {"detail": f"request '{request_id}' not found"})
    return call.reply(200, remote)


@router.delete("/requests/{request_id}")
async def delete_request(request_id: str, request: Request, call: PartnerCall = Depends(partner_call)) -> Response:
    """Tear the partner's service down (202), or say it is already gone (200); idempotent."""
    remote = await _remote(request, call, request_id)
    if remote is None:
        return call.reply(404, {"detail": f"request '{request_id}' not found"})
    if remote.state in TERMINAL_STATES:
        return call.reply(200, remote)
    try:
        await terminate_service(request, remote.remote_id)
    except HTTPException:  # already terminating: the partner asks again until terminated
        pass
    return call.reply(202, remote.model_copy(update={"state": "terminating"}))


@router.post("/requests/{request_id}/operations")
async def operate_request(request_id: str, request: Request, call: PartnerCall = Depends(partner_call),
                          timeout: float = Query(20.0, ge=0, le=300)) -> Response:
    """A day-2 operation forwarded by the partner (scale or upgrade); idempotent on its request id."""
    try:
        op = Operation.model_validate_json(call.body)
    except ValidationError as err:
        return _invalid(call, [{"loc": ["body", *e["loc"]], "msg": e["msg"]} for e in err.errors()])
    if op.kind not in FORWARDED_KINDS:
        return call.reply(403, {"detail": f"a partner may only {' and '.join(FORWARDED_KINDS)} its components"})
    if await _remote(request, call, request_id) is None:
        return call.reply(404, {"detail": f"request '{request_id}' not found"})
    answer = Response()
    try:
        result = await run_operation(request, answer, remote_service_id(call.partner.id, request_id),
                                Caller(call.tenant), op, None, True, timeout)
    except HTTPException as err:
        return call.reply(err.status_code, {"detail": err.detail})
    if isinstance(result, OperationRecord):
        return call.reply(200, result)
    return call.reply(202, result)
