"""Engine set-up: SQLite file by default (WAL, so the API reads while the worker writes), PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from legato.inventory import (  # noqa: F401  (registers the tables on SQLModel.metadata)
    autopilot_tables,
    location_tables,
    maintenance_tables,
    measure_tables,
    tables,
    tmf_tables,
)


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
    had_claims = inspect(engine).has_table("node_claims")
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:  # on databases created before these indexes existed, too
        for statement in INDEXES:
            conn.execute(text(statement))
        for table, column, kind in ADDED_COLUMNS:  # on databases created before these columns existed
            if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
        if not had_claims:  # components deployed before per-node claims: their room, node unknown
            conn.execute(text(LEGACY_CLAIMS))
        # The row every placement locks first (see Inventory.placement_lock): created here, once, so
        # that taking the lock is a plain UPDATE and never races an INSERT.
        if conn.execute(text("SELECT 1 FROM meta WHERE key = 'placement-lock'")).first() is None:
            conn.execute(text("INSERT INTO meta (key, seq) VALUES ('placement-lock', 0)"))
    return engine


ADDED_COLUMNS = [("hosts", "reservation", "VARCHAR"), ("service_operations", "continuity", "JSON"),
                 ("clusters", "node_versions", "JSON"), ("kpi_samples", "area_rps", "JSON")]
LEGACY_CLAIMS = (
    "INSERT INTO node_claims (cluster, host, service_id, component, holder, state, replicas, cpu, memory_mb, gpu) "
    "SELECT cluster, NULL, service_id, name, workload_id, 'running', replicas, cpu, memory_mb, gpu FROM components"
)


# The newest-first pages of the services list, all tenants and one: an index walk, not a sort.
INDEXES = [
    "CREATE INDEX IF NOT EXISTS ix_services_newest ON services (created_at, id)",
    "CREATE INDEX IF NOT EXISTS ix_services_tenant_newest ON services (tenant, created_at, id)",
]
