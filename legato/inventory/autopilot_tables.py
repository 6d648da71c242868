"""The autopilot policy table (legato/inventory/autopilot_policy.py writes it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from legato.inventory.tables import utcnow


class AutopilotPolicyRow(SQLModel, table=True):
    """The operator's policy bounding automatic action (an AutopilotPolicy as JSON). One row, `global`,
    today; the key leaves room for per-site or per-tenant overrides without a new table."""

    __tablename__ = "autopilot_policy"
    scope: str = Field(primary_key=True)
    policy: dict = Field(default_factory=dict, sa_column=Column(JSON))
    updated_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)
