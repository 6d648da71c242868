"""The maintenance windows table (legato/inventory/maintenance.py writes it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from legato.inventory.tables import utcnow


class MaintenanceWindowRow(SQLModel, table=True):
    """The windows of one service, site or cluster (a JSON list of MaintenanceWindow)."""

    __tablename__ = "maintenance_windows"
    scope: str = Field(primary_key=True)
    target: str = Field(primary_key=True)
    windows: list = Field(default_factory=list, sa_column=Column(JSON))
    updated_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)
