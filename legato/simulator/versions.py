"""Kubernetes versions in the simulated continuum: the releases it offers, and each cluster's and
node's version as the cluster would report it at a time.

An upgrade writes its end at once (like a rolling upgrade's schedule, see rows.py): the new version
and when it takes effect (`version_at`), keeping the one reported until then (`version_from`). So
a control plane reports its old version until its new one answers, and a node being replaced
reports its old kubelet and takes no pod until it is back."""

from __future__ import annotations

import sqlite3

from legato.model.versions import canonical

# The releases the simulator can run a cluster on (a real MCM's are its provider's images or the
# binaries it carries): patch releases of v1.30 to v1.36.
RELEASES = [f"v1.{minor}.{patch}" for minor, last in ((30, 14), (31, 13), (32, 10), (33, 6), (34, 4), (35, 4), (36, 2))
            for patch in range(last + 1)]  # fmt: skip
# What a cluster the topology names without a version, or one Legato creates, starts on: the test
# bed's own, so the sim and kwok run the same upgrade.
DEFAULT_VERSION = "v1.34.4"


def settled(version: str | None, version_from: str | None, version_at: float | None, now: float) -> str:
    """The version reported at `now`: the new one once its time has come, the old one before."""
    if version_at is not None and version_at > now and version_from:
        return canonical(version_from)
    return canonical(version or DEFAULT_VERSION)


def control_plane_version(row: sqlite3.Row, now: float) -> str:
    return settled(row["kubernetes_version"], row["version_from"], row["version_at"], now)


def node_versions(db: sqlite3.Connection, cluster_id: str, now: float) -> dict[str, str]:
    """Each node's kubelet version at `now` (a node that joined before versions were kept runs
    its cluster's)."""
    fallback = db.execute("SELECT kubernetes_version FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
    return {
        r["host"]: settled(r["version"] or (fallback["kubernetes_version"] if fallback else None),
                           r["version_from"], r["version_at"], now)
        for r in db.execute("SELECT * FROM cluster_nodes WHERE cluster = ? ORDER BY host", (cluster_id,))
    }  # fmt: skip
