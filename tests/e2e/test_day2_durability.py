"""Day-2 operations under crashes and long lives: a move survives a killed worker, and the entity
workflow continues as new without losing its state or its operations."""

import asyncio
import signal
import time

from legato.devserver import DevServer, free_port
from legato.temporal import connect
from tests.e2e.calls import active, component_workloads, operate
from tests.specs import example
from tests.stack import running_stack


async def test_worker_killed_mid_move_completes_exactly_once(tmp_path, temporal_server):
    async with running_stack(tmp_path / "legato", temporal_server.address, worker="process") as stack:
        service_id = await active(stack, example("video-analytics"))
        stack.sim.set_latency("wdm.deploy", 3.0)
        started = await operate(stack, service_id, "components/analytics/move",
                                {"placement": {"tiers": ["regional"]}, "request_id": "move-1"}, expect=202,
                                wait=False)
        assert started["request_id"] == "move-1"
        deadline = time.monotonic() + 30
        while not any("/migrate/" in op for op in stack.sim_ops("mcm.create_cluster")):
            assert time.monotonic() < deadline, "the move never built its target cluster"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # inside the target's (slow) deploy
        stack.worker_procs[0].send_signal(signal.SIGKILL)
        stack.worker_procs[0].wait(10)
        stack.sim.set_latency("wdm.deploy", 0.0)
        stack.start_worker_process()
        async with stack.http() as client:
            while True:
                op = (await client.get(f"/v1/services/{service_id}/operations/move-1")).json()
                if op["state"] != "running":
                    break
                assert time.monotonic() < deadline + 120
                await asyncio.sleep(0.3)
        assert op["state"] == "succeeded", op
        workloads = await component_workloads(stack, service_id, "analytics")
        assert len(workloads) == 1 and workloads[0].cluster != "paris-cloud-k8s" and workloads[0].ready
        assert stack.sim.duplicate_allocations() == 0
        assert stack.inventory_hosts(service_id) == await stack.sim_hosts(service_id)


async def test_continue_as_new_keeps_state_and_operations(tmp_path):
    server = DevServer(tmp_path / "temporal.db", port=free_port(), ui_port=None,
                       extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"])
    server.start()
    try:
        async with running_stack(tmp_path / "legato", server.address) as stack:
            service_id = await active(stack, example("web-shop"))
            client = await connect(stack.settings)
            handle = client.get_workflow_handle(f"service-{service_id}")
            first_run = (await handle.describe()).run_id
            record = await operate(stack, service_id, "components/api/scale", {"replicas": 3, "request_id": "r1"})
            assert record["state"] == "succeeded"
            deadline = time.monotonic() + 60
            while (await handle.describe()).run_id == first_run:
                assert time.monotonic() < deadline, "the entity workflow never continued as new"
                await asyncio.sleep(0.3)
            # the new run knows the service: a retried request is answered, not applied again
            again = await operate(stack, service_id, "components/api/scale", {"replicas": 3, "request_id": "r1"})
            assert again["started_at"] == record["started_at"] and stack.sim.op_count("wdm.scale") == 1
            upgraded = await operate(stack, service_id, "components/frontend/upgrade", {"version": "1.28-alpine"})
            assert upgraded["state"] == "succeeded", upgraded
            async with stack.http() as http:
                svc = (await http.get(f"/v1/services/{service_id}")).json()
                assert svc["state"] == "active" and len(svc["endpoints"]) == 3
                assert (await http.delete(f"/v1/services/{service_id}")).status_code == 202
            await stack.wait_state(service_id, {"terminated"})
            # the compensations came across too: teardown leaves nothing
            assert stack.sim.leftovers(service_id) == {"hosts": 0, "clusters": 0, "workloads": 0, "connections": 0}
    finally:
        server.stop()
