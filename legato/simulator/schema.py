"""The simulator's tables. Replicas and connections are kept as history (removed_at set, never
deleted), so continuity through a day-2 change can be judged afterwards from timestamps."""

from __future__ import annotations

import sqlite3

VERSION = 6  # PRAGMA user_version; 0 is the first layout, where replicas and connections were deleted;
# 3 adds cordoned nodes and versions that never become ready; 4 adds charts and their releases' revisions;
# 5 adds Kubernetes versions in progress (a control plane's and each node's: see versions.py);
# 6 adds the load model (daily curves, flash crowds, user shifts, request costs) and clusters and nodes out of reach

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS error_rates (version TEXT PRIMARY KEY, rate REAL NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
    kind TEXT PRIMARY KEY, transient_rate REAL NOT NULL, permanent REAL NOT NULL, phase TEXT);
CREATE TABLE IF NOT EXISTS latencies (kind TEXT PRIMARY KEY, seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS operations (
    op_id TEXT PRIMARY KEY, kind TEXT NOT NULL, result TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, cpu REAL NOT NULL, memory_mb INTEGER NOT NULL,
    gpu INTEGER NOT NULL, features TEXT NOT NULL, state TEXT NOT NULL, power TEXT NOT NULL,
    owner TEXT, allocation_op TEXT);
CREATE TABLE IF NOT EXISTS clusters (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, owner TEXT, shared INTEGER NOT NULL,
    kubernetes_version TEXT NOT NULL, created_op TEXT, version_from TEXT, version_at REAL);
CREATE TABLE IF NOT EXISTS cluster_nodes (
    host TEXT PRIMARY KEY, cluster TEXT NOT NULL, cordoned INTEGER NOT NULL DEFAULT 0,
    version TEXT, version_from TEXT, version_at REAL);
CREATE TABLE IF NOT EXISTS stuck_versions (version TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS workloads (
    cluster TEXT NOT NULL, id TEXT NOT NULL, service_id TEXT NOT NULL, tenant TEXT NOT NULL,
    component TEXT NOT NULL, image TEXT NOT NULL, version TEXT NOT NULL, replicas INTEGER NOT NULL,
    cpu REAL NOT NULL, memory_mb INTEGER NOT NULL, gpu INTEGER NOT NULL, features TEXT NOT NULL,
    ports TEXT NOT NULL, env TEXT NOT NULL, labels TEXT NOT NULL, endpoint TEXT NOT NULL, chart TEXT,
    PRIMARY KEY (cluster, id));
CREATE TABLE IF NOT EXISTS releases (
    cluster TEXT NOT NULL, workload TEXT NOT NULL, revision INTEGER NOT NULL, version TEXT NOT NULL,
    replicas INTEGER NOT NULL, values_json TEXT NOT NULL, status TEXT NOT NULL, description TEXT NOT NULL,
    op_id TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (cluster, workload, revision));
CREATE TABLE IF NOT EXISTS replicas (
    seq INTEGER PRIMARY KEY, cluster TEXT NOT NULL, workload TEXT NOT NULL, idx INTEGER NOT NULL,
    host TEXT NOT NULL, service_id TEXT NOT NULL, component TEXT NOT NULL, site TEXT NOT NULL,
    image TEXT NOT NULL, version TEXT NOT NULL, endpoint TEXT NOT NULL,
    created_at REAL NOT NULL, ready_at REAL NOT NULL, removed_at REAL);
CREATE INDEX IF NOT EXISTS replicas_of_workload ON replicas (cluster, workload);
CREATE INDEX IF NOT EXISTS replicas_of_component ON replicas (service_id, component);
CREATE TABLE IF NOT EXISTS connections (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL, service_id TEXT NOT NULL, kind TEXT NOT NULL,
    source TEXT NOT NULL, target TEXT NOT NULL, source_endpoint TEXT, target_endpoint TEXT,
    profile TEXT, bandwidth_mbps REAL NOT NULL, latency_ms REAL NOT NULL,
    created_at REAL NOT NULL, removed_at REAL);
CREATE UNIQUE INDEX IF NOT EXISTS live_connection ON connections (id) WHERE removed_at IS NULL;
CREATE INDEX IF NOT EXISTS connections_of_service ON connections (service_id);
CREATE TABLE IF NOT EXISTS daily_curves (
    area TEXT PRIMARY KEY, amplitude REAL NOT NULL, peak_hour REAL NOT NULL, clock TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS flash_crowds (
    seq INTEGER PRIMARY KEY, area TEXT NOT NULL, start REAL NOT NULL, duration REAL NOT NULL,
    multiplier REAL NOT NULL);
CREATE TABLE IF NOT EXISTS user_shifts (
    seq INTEGER PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL, start REAL NOT NULL,
    duration REAL NOT NULL, share REAL NOT NULL);
CREATE TABLE IF NOT EXISTS request_costs (
    service_id TEXT NOT NULL, component TEXT NOT NULL, cpu_seconds REAL NOT NULL,
    PRIMARY KEY (service_id, component));
CREATE TABLE IF NOT EXISTS cluster_outages (cluster TEXT PRIMARY KEY, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS node_outages (host TEXT PRIMARY KEY, since REAL NOT NULL);
"""
VERSION_COLUMNS = (("clusters", "version_from", "TEXT"), ("clusters", "version_at", "REAL"),
                   ("cluster_nodes", "version", "TEXT"), ("cluster_nodes", "version_from", "TEXT"),
                   ("cluster_nodes", "version_at", "REAL"))  # fmt: skip
TABLES = ("meta", "settings", "error_rates", "stuck_versions", "faults", "latencies", "operations", "hosts",
          "clusters", "cluster_nodes", "workloads", "releases", "replicas", "connections", "daily_curves",
          "flash_crowds", "user_shifts", "request_costs", "cluster_outages",
          "node_outages")  # fmt: skip

# A first-layout file (from before day 2) keeps its state: its rows become history that began at 0.
COPY_FIRST_LAYOUT = (
    "INSERT INTO replicas (cluster, workload, idx, host, service_id, component, site, image, version, endpoint, "
    "created_at, ready_at) SELECT r.cluster, r.workload, r.idx, r.host, w.service_id, w.component, c.site, w.image, "
    "w.version, w.endpoint, 0, r.ready_at FROM replicas_v1 r "
    "JOIN workloads w ON w.cluster = r.cluster AND w.id = r.workload JOIN clusters c ON c.id = r.cluster",
    "INSERT INTO connections (id, service_id, kind, source, target, source_endpoint, target_endpoint, profile, "
    "bandwidth_mbps, latency_ms, created_at) SELECT id, service_id, kind, source, target, source_endpoint, "
    "target_endpoint, profile, bandwidth_mbps, latency_ms, 0 FROM connections_v1",
    "DROP TABLE replicas_v1",
    "DROP TABLE connections_v1",
)


def prepare(db: sqlite3.Connection) -> None:
    """Create the tables, or bring an older file up to date; atomic, so processes may race on it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] < VERSION:
            columns = {r[1] for r in db.execute("PRAGMA table_info(replicas)")}
            first_layout = bool(columns) and "removed_at" not in columns
            if first_layout:
                db.execute("ALTER TABLE replicas RENAME TO replicas_v1")
                db.execute("ALTER TABLE connections RENAME TO connections_v1")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            if "cordoned" not in {r[1] for r in db.execute("PRAGMA table_info(cluster_nodes)")}:
                db.execute("ALTER TABLE cluster_nodes ADD COLUMN cordoned INTEGER NOT NULL DEFAULT 0")
            if "chart" not in {r[1] for r in db.execute("PRAGMA table_info(workloads)")}:
                db.execute("ALTER TABLE workloads ADD COLUMN chart TEXT")
            for table, column, kind in VERSION_COLUMNS:
                if column not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            if first_layout:
                for statement in COPY_FIRST_LAYOUT:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
