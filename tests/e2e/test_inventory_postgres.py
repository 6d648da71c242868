"""The inventory on PostgreSQL (`LEGATO_DATABASE_URL`), as operators run it in production."""

import asyncio
import os

import pytest

from legato.embedded import prepare_continuum
from legato.simulator import SimContinuum
from legato.temporal import connect
from tests.postgres import Postgres, pg_bin
from tests.specs import example
from tests.stack import make_settings, running_stack


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    if pg_bin() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql); CI installs them")
    server = Postgres(tmp_path_factory.mktemp("pg")).start()
    yield server
    server.stop()


async def test_deploy_and_teardown_with_inventory_on_postgres(tmp_path, temporal_server, postgres):
    async with running_stack(tmp_path / "legato", temporal_server.address, database_url=postgres.url) as stack:
        assert stack.settings.inventory_url.startswith("postgresql")
        service_id = await stack.deploy(example("video-analytics"))
        svc = await stack.wait_state(service_id, {"active", "failed"})
        assert svc["state"] == "active", svc.get("error")
        assert stack.inventory_hosts(service_id) == await stack.sim_hosts(service_id)
        async with stack.http() as client:
            assert (await client.delete(f"/v1/services/{service_id}")).status_code == 202
        await stack.wait_state(service_id, {"terminated"})
        assert stack.inventory_hosts(service_id) == set()


def test_reloading_the_topology_keeps_allocation_state(tmp_path, postgres):
    settings = make_settings(tmp_path, "unused:0").model_copy(update={"database_url": postgres.url})
    prepare_continuum(settings)
    from legato.inventory import Inventory

    inventory = Inventory(settings.inventory_url)
    host = SimContinuum(settings.sim_path).hosts("paris-edge-1")[0]
    inventory.hosts_allocated([host.model_copy(update={"service_id": "svc-1"})], "op-1")
    prepare_continuum(settings)  # a restart of `legato up`
    rows, _ = inventory.hosts(site="paris-edge-1")
    assert {r.id: r.service_id for r in rows}[host.id] == "svc-1"


async def test_an_inventory_outage_answers_retry_later_and_loses_nothing(tmp_path, temporal_server, postgres):
    async with running_stack(tmp_path / "legato", temporal_server.address, database_url=postgres.url) as stack:
        stack.sim.set_latency("wdm.deploy", 2)  # the deployment is still writing the inventory when it goes
        service_id = await stack.deploy(example("web-shop"))
        async with stack.http() as client:
            assert (await client.get("/v1/services")).status_code == 200
            postgres.kill()
            try:
                down = await client.get("/v1/services")
                assert down.status_code == 503 and down.headers["Retry-After"], down.text
                assert "retry" in down.json()["message"]
                assert (await client.get("/healthz")).status_code == 200  # the same connection: kept alive
                # The deployment retries its inventory writes, each failure short and readable in the history.
                handle = (await connect(stack.settings)).get_workflow_handle(f"service-{service_id}")
                failure = ""
                for _ in range(100):
                    pending = (await handle.describe()).raw_description.pending_activities
                    failure = pending[0].last_failure.message if pending and pending[0].HasField("last_failure") else ""
                    if failure:
                        break
                    await asyncio.sleep(0.2)
                assert failure.startswith("inventory unavailable") and len(failure) < 400, failure
            finally:
                postgres.start()
        svc = await stack.wait_state(service_id, {"active", "failed"}, timeout=180)
        assert svc["state"] == "active", svc.get("error")  # nothing lost: it carried on once the database was back
