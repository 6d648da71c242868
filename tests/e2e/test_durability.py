"""Crashes mid-deployment: the work neither gets lost nor done twice."""

import asyncio
import signal
import time

from legato.devserver import DevServer, free_port
from tests.specs import example
from tests.stack import running_stack


async def wait_for_step(stack, service_id: str, prefix: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with stack.http() as client:
        while time.monotonic() < deadline:
            resp = await client.get(f"/v1/services/{service_id}")
            if resp.status_code == 200 and any(
                s["name"].startswith(prefix) and s["state"] == "running" for s in resp.json()["steps"]
            ):
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"step {prefix} never ran")


async def assert_built_once(stack, service_id: str, components: int) -> None:
    workloads = await stack.sim_workloads(service_id)
    assert len(workloads) == components and all(w.ready for w in workloads)
    assert stack.sim.duplicate_allocations() == 0
    assert stack.inventory_hosts(service_id) == await stack.sim_hosts(service_id)


async def test_worker_killed_mid_deployment_resumes_on_a_new_worker(tmp_path, temporal_server):
    async with running_stack(tmp_path / "legato", temporal_server.address, worker="process") as stack:
        stack.sim.set_latency("wdm.deploy", 3.0)
        service_id = await stack.deploy(example("video-analytics"))
        await wait_for_step(stack, service_id, "deploy@")
        stack.worker_procs[0].send_signal(signal.SIGKILL)
        stack.worker_procs[0].wait(10)
        stack.sim.set_latency("wdm.deploy", 0.0)
        stack.start_worker_process()
        svc = await stack.wait_state(service_id, {"active", "failed"}, timeout=180)
        assert svc["state"] == "active", svc.get("error")
        await assert_built_once(stack, service_id, 3)


async def test_temporal_server_restarted_on_same_file_mid_deployment(tmp_path):
    server = DevServer(tmp_path / "temporal.db", port=free_port(), ui_port=None, log_file=tmp_path / "temporal.log")
    server.start()
    try:
        async with running_stack(tmp_path / "legato", server.address) as stack:
            stack.sim.set_latency("wdm.deploy", 3.0)
            service_id = await stack.deploy(example("video-analytics"))
            await wait_for_step(stack, service_id, "deploy@")
            server.stop()
            await asyncio.sleep(2)
            server.start()
            svc = await stack.wait_state(service_id, {"active", "failed"}, timeout=180)
            assert svc["state"] == "active", svc.get("error")
            await assert_built_once(stack, service_id, 3)
    finally:
        server.stop()


async def test_engine_down_means_retry_and_the_retry_applies_once(tmp_path):
    """While Temporal is down a write answers 503 with Retry-After (never a refusal, which would make
    a client give up on it); once it is back, the same request carries out the work, once."""
    server = DevServer(tmp_path / "temporal.db", port=free_port(), ui_port=None, log_file=tmp_path / "temporal.log")
    server.start()
    try:
        async with running_stack(tmp_path / "legato", server.address) as stack:
            service_id = await stack.deploy(example("web-shop"))
            assert (await stack.wait_state(service_id, {"active", "failed"}))["state"] == "active"
            scale = (f"/v1/services/{service_id}/components/api/scale", {"replicas": 3, "request_id": "r-1"})
            server.stop()
            async with stack.http() as client:
                for resp in (await client.post(scale[0], json=scale[1], timeout=120),
                             await client.delete(f"/v1/services/{service_id}", timeout=120),
                             await client.post("/v1/services", json=example("web-shop"), timeout=120)):
                    assert resp.status_code == 503 and resp.headers["Retry-After"], resp.text
                server.start()
                done = await client.post(scale[0], json=scale[1], timeout=120)
                assert done.status_code == 200 and done.json()["state"] == "succeeded", done.text
                assert (await client.post(scale[0], json=scale[1], timeout=120)).json() == done.json()
            assert stack.sim.op_count("wdm.scale") == 1
            await stack.remove(service_id)
    finally:
        server.stop()
