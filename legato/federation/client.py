"""HTTP client to one partner's Legato (httpx): signs every request, verifies every answer, and
maps what happened onto the adapter errors the activities already understand: the partner
unreachable or answering 5xx is transient (retried), a refusal (401/403/422/429) is permanent."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx

from legato.adapters.errors import AdapterError, NotFound
from legato.federation.partners import Federation
from legato.federation.signing import RESPONSE_HEADER, SCHEME, SignatureRejected, sign_request, verify_response
from legato.model.federation import FederationRequest, Partner, RemoteService

API = "/v1/federation/requests"


class PartnerUnavailable(AdapterError):
    """No usable answer. `delivered`: whether the partner may have received the request (a lost
    answer) or provably not (the connection was never made)."""

    retryable = True
    type = "PartnerUnavailable"

    def __init__(self, message: str, delivered: bool = True):
        super().__init__(message)
        self.delivered = delivered


class PartnerRefused(AdapterError):
    type = "PartnerRefused"


class PartnerClient:
    def __init__(self, fed: Federation, partner: Partner, timeout: float = 30.0):
        self.fed, self.partner, self.timeout = fed, partner, timeout
        self._prefix = urlsplit(partner.base_url).path.rstrip("/")

    async def call(self, method: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        token, nonce = sign_request(self.fed, self.partner.id, method, self._prefix + path, body)
        headers = {"Authorization": f"{SCHEME} {token}", "Content-Type": "application/json"}
        try:
            async with httpx.AsyncClient(base_url=self.partner.base_url, timeout=self.timeout) as http:
                resp = await http.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            raise PartnerUnavailable(f"partner {self.partner.id} unreachable: {type(exc).__name__}",
                                     delivered=not never_sent) from None
        if resp.status_code >= 500:
            raise PartnerUnavailable(f"partner {self.partner.id} answered {resp.status_code}")
        if resp.status_code in (401, 403) and RESPONSE_HEADER not in resp.headers:
            raise PartnerRefused(f"partner {self.partner.id} refused our signature: {_detail(resp.content)}")
        try:
            verify_response(self.fed, self.partner.id, resp.headers.get(RESPONSE_HEADER), nonce, resp.status_code,
                            resp.content)
        except SignatureRejected as why:  # not the partner speaking (or altered on the way): try again
            raise PartnerUnavailable(f"answer of partner {self.partner.id} rejected: {why.reason}") from None
        return resp.status_code, json.loads(resp.content or b"{}")

    def _refused(self, status: int, data: dict) -> PartnerRefused:
        return PartnerRefused(f"partner {self.partner.id} refused ({status}): {_detail(data)}")

    async def create(self, request: FederationRequest) -> RemoteService:
        status, data = await self.call("POST", API, request.model_dump(mode="json", by_alias=True,
                                                                         exclude_none=True))
        if status not in (200, 202):
            raise self._refused(status, data)
        return RemoteService.model_validate(data)

    async def get(self, request_id: str) -> RemoteService | None:
        return await self._part(request_id, "GET", ok=(200,))

    async def delete(self, request_id: str) -> RemoteService | None:
        return await self._part(request_id, "DELETE", ok=(200, 202))

    async def _part(self, request_id: str, method: str, ok: tuple[int, ...]) -> RemoteService | None:
        """The partner's record of the part our request id names, or None where it knows no such
        request (never sent, or long gone: for a delete, nothing left to undo)."""
        status, data = await self.call(method, f"{API}/{request_id}")
        if status == 404:
            return None
        if status not in ok:
            raise self._refused(status, data)
        return RemoteService.model_validate(data)

    async def operate(self, request_id: str, operation: dict) -> tuple[int, dict]:
        """200 with the finished operation's record, or 202 while it runs (ask again: idempotent)."""
        status, data = await self.call("POST", f"{API}/{request_id}/operations?timeout=20", operation)
        if status == 404:
            raise NotFound(f"partner {self.partner.id} has no request {request_id}")
        if status not in (200, 202):
            raise self._refused(status, data)
        return status, data


def _detail(data: dict | bytes) -> str:
    if isinstance(data, bytes):
        try:
            data = json.loads(data or b"{}")
        except ValueError:
            return data[:200].decode(errors="replace")
    detail = data.get("detail", data) if isinstance(data, dict) else data
    return str(detail)[:300]
