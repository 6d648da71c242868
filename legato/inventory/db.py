"""Engine set-up: SQLite file by default (WAL, so the API reads while the worker writes), PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from legato.inventory import tables, tmf_tables  # noqa: F401  (registers the tables on SQLModel.metadata)


def open_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:  # on databases created before these indexes existed, too
        for statement in INDEXES:
            conn.execute(text(statement))
    return engine


# The newest-first pages of the services list, all tenants and one: an index walk, not a sort.
INDEXES = [
    "CREATE INDEX IF NOT EXISTS ix_services_newest ON services (created_at, id)",
    "CREATE INDEX IF NOT EXISTS ix_services_tenant_newest ON services (tenant, created_at, id)",
]
