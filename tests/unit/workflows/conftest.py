import pytest
from temporalio.client import Client

from legato.temporal import pydantic_data_converter  # the converter Legato's client and worker use


@pytest.fixture(scope="session")
async def client(temporal_server) -> Client:
    """A client of the session's real dev server, speaking Legato's data converter."""
    return await Client.connect(temporal_server.address, data_converter=pydantic_data_converter)
