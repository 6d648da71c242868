"""The Kubernetes test bed's binaries (scripts/testbed.sh). Missing binaries fail the tests loudly:
CI must build them, and only an explicit LEGATO_SKIP_TESTBED=1 lets a local run skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from legato.adapters.mcm.kwok import BINARIES
from legato.config import Settings

SKIP = os.environ.get("LEGATO_SKIP_TESTBED") == "1"


def require(path: Path, names: list[str], what: str, how: str) -> Path:
    """`path` if it holds every binary named; else the tests fail loudly (skip only when
    LEGATO_SKIP_TESTBED=1 says so), naming what is missing and how to build it."""
    missing = [b for b in names if not (path / b).exists()]
    if missing:
        why = f"{what} {missing} not in {path}: run {how}"
        if SKIP:
            pytest.skip(f"{why}; skipped because LEGATO_SKIP_TESTBED=1")
        pytest.fail(why)
    return path


def testbed_bin() -> Path:
    return require(Settings().testbed_bin_dir, [*BINARIES, "kwokctl"], "test bed binaries",
                   "scripts/testbed.sh (LEGATO_TESTBED_BIN=<its output>)")


async def delete_every_cluster(mcm) -> None:
    """Stop every control plane a kwok MCM started, the topology's shared ones included (which
    `delete_cluster` rightly refuses), so a test run leaves no process behind."""
    for cluster_id in await mcm.kube_cluster_ids():
        (mcm.meta_dir / f"{cluster_id}.json").unlink()
        await mcm._kwokctl(cluster_id, "delete", "cluster")
