"""The user-location reports table (legato/inventory/user_locations.py writes it)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class UserLocationRow(SQLModel, table=True):
    """One area's report of where a service's users are (POST /v1/services/{id}/user-locations):
    what was reported, the demand Legato derived from it, and when it was applied to the service
    (None: waiting, coalesced with later reports of the same area; the latest wins)."""

    __tablename__ = "user_location_reports"
    id: int | None = Field(default=None, primary_key=True)
    service_id: str = Field(index=True)
    area: str
    users: int | None = None  # reported population, when the report gave users
    demand_rps: float  # what the area's demand becomes
    reported_at: float = Field(index=True)  # epoch seconds, when Legato took it
    observed_at: float | None = None  # when the reporting system saw it
    reported_by: str = ""
    apply_after: float = 0.0  # the earliest it may be applied (at most one application per interval)
    applied_at: float | None = Field(default=None, index=True)
    operation: str | None = None  # the update that applied it (or superseded: a later report won)
