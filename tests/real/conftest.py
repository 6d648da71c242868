import pytest

from tests.real.redfish_emulator import ImageServer, start_emulator
from tests.real.testbed import testbed_bin


@pytest.fixture(scope="session")
def kube_bin():
    return testbed_bin()


@pytest.fixture(scope="session")
def image_server(tmp_path_factory):
    with ImageServer(tmp_path_factory.mktemp("images")) as server:
        yield server


@pytest.fixture(scope="module")
def redfish_factory(tmp_path_factory):
    """Start emulators on demand (each on its own port); all stopped when the module ends."""
    started = []

    def start(systems: list[str]):
        emu = start_emulator(tmp_path_factory.mktemp("redfish"), systems)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()
