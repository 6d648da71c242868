"""Federation with partner operators: the partners as configured (public part only: keys live in
`legato.federation.partners`), the wire format between two Legatos, and the federated parts a
service keeps."""

from __future__ import annotations

from pydantic import BaseModel, Field

from legato.model.service import ServiceSpec, Strict
from legato.model.status import Endpoint

# Ids the requesting side chooses; URL-safe so they name the partner's routes as they are.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
PARTNER_TENANT_PREFIX = "partner:"


def partner_tenant(partner_id: str) -> str:
    """The tenant a partner's requests run under on our side."""
    return f"{PARTNER_TENANT_PREFIX}{partner_id}"


class PartnerQuota(Strict):
    """What a partner may ask of us at once (0 services: it may ask nothing)."""

    max_services: int = Field(default=0, ge=0)
    max_vcpu: float = Field(default=0, ge=0)


class Partner(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str = ""
    base_url: str = Field(pattern=r"^https?://")
    areas: list[str] = Field(default_factory=list, description="user areas it serves")
    countries: list[str] = Field(default_factory=list, description="countries it serves (ISO alpha-2)")
    overflow: bool = Field(default=False, description="we may send it components we cannot place ourselves")
    quota: PartnerQuota = Field(default_factory=PartnerQuota, description="what it may request from us")
    max_attempts: int = Field(default=8, ge=1, le=100, description="tries to reach it before a request fails")


class FederationRequest(Strict):
    """POST /v1/federation/requests: deploy this (sub)service for me. The receiver dedups on request_id."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    origin_service: str = Field(default="", max_length=200, description="the requester's service id")
    spec: ServiceSpec


class RemoteService(BaseModel):
    """What the receiver answers about a request: its own service's id, state and endpoints."""

    request_id: str
    remote_id: str
    state: str
    error: str | None = None
    endpoints: list[Endpoint] = Field(default_factory=list)


class FederatedPart(BaseModel):
    """The part of a service running at a partner, as the home side records it."""

    partner: str
    request_id: str
    remote_id: str = ""
    components: list[str] = Field(default_factory=list)
    state: str = "requested"
    endpoints: list[Endpoint] = Field(default_factory=list)
