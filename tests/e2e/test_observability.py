"""What operators watch: one connected trace per deployment, metrics, health, the reconcile
schedule that heals drift and reports what it must not touch."""

import asyncio
import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from legato.devserver import free_port
from legato.model.workloads import WorkloadSpec
from legato.schedules import autopilot_id, ensure_schedules, reconcile_id
from legato.temporal import connect
from tests.e2e.calls import active, component_workloads, day2
from tests.specs import example
from tests.stack import running_stack

SPANS = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def tracer_provider():
    """The SDK's in-memory exporter, installed once for the process (OpenTelemetry allows one)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SPANS))
    trace.set_tracer_provider(provider)
    yield


async def test_one_deployment_is_one_connected_trace(stack):
    SPANS.clear()
    service_id = await active(stack, example("video-analytics"))
    spans = SPANS.get_finished_spans()
    [root] = [s for s in spans if s.name == "POST /v1/services" and s.parent is None]
    tree = [s for s in spans if s.context.trace_id == root.context.trace_id]
    assert {s.attributes.get("legato.tenant") for s in tree} >= {"alpha"}
    assert {s.attributes.get("legato.service_id") for s in tree} >= {service_id}
    by_id = {s.context.span_id: s for s in tree}
    names = {s.name for s in tree}
    for expected in ("StartWorkflow:DeployService", "RunWorkflow:DeployService", "RunActivity:placement.place",
                     "RunActivity:pim.allocate_hosts", "adapter pim.allocate_hosts", "adapter wdm.deploy_workload",
                     "adapter tcm.set_user_qos"):
        assert expected in names, (expected, sorted(names))
    # every span hangs off the request: walk each to the root
    for span in tree:
        node = span
        while node.parent is not None:
            node = by_id[node.parent.span_id]
        assert node is root, span.name
    adapter = next(s for s in tree if s.name == "adapter pim.allocate_hosts")
    assert by_id[adapter.parent.span_id].name == "RunActivity:pim.allocate_hosts"
    assert adapter.attributes["legato.service_id"] == service_id and adapter.attributes["legato.site"]


async def test_metrics_after_a_deployment(tmp_path, temporal_server):
    port = free_port()
    async with running_stack(tmp_path / "legato", temporal_server.address,
                             worker_metrics_address=f"127.0.0.1:{port}",
                             worker_metrics_url=f"http://127.0.0.1:{port}/metrics") as stack:
        await active(stack, example("web-shop"))
        async with stack.http("operator") as client:
            assert (await client.get("/metrics", headers={"Authorization": "Bearer nope"})).status_code == 401
            text = (await client.get("/metrics")).text
    assert 'legato_services{state="active"} 1.0' in text
    assert 'legato_api_requests_total{method="POST",route="/v1/services",status="202"} 1.0' in text
    assert "legato_worker_metrics_up 1" in text
    assert "legato_step_duration" in text and 'step="deploy"' in text  # Legato's own, from the worker
    assert "legato_placement_seconds" in text
    assert "temporal_workflow_completed" in text or "temporal_activity_execution_latency" in text  # the SDK's


async def test_health_and_readiness(stack):
    async with stack.http("operator") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        for _ in range(30):  # as a probe does: the worker's first poll may not be registered yet
            ready = (await client.get("/readyz")).json()
            if ready["ready"]:
                break
            await asyncio.sleep(0.5)
    assert ready["ready"] and ready["checks"]["temporal"] == "ok" and ready["checks"]["database"] == "ok", ready
    assert "poller" in ready["checks"]["worker"]
    async with stack.http("operator") as client:
        assert (await client.get("/readyz", headers={"Authorization": ""})).status_code == 401


async def test_reconcile_heals_drift_and_reports_what_it_must_not_touch(stack):
    service_id = await active(stack, example("video-analytics"))
    [ingest] = await component_workloads(stack, service_id, "ingest")
    stack.sim.delete_workload_behind_back(ingest.id)
    intruder = WorkloadSpec(id="miner", service_id="someone-else", tenant="x", component="miner", image="miner",
                            version="1", replicas=1, cpu=1, memory_mb=512)
    await stack.adapters.wdm.deploy("not-legato", "paris-cloud-k8s", intruder)
    held = sorted(await stack.sim_hosts(service_id))
    stack.sim.power_off_behind_back(held[0])

    client = await connect(stack.settings)
    await ensure_schedules(client, stack.settings)
    await client.get_schedule_handle(reconcile_id(stack.settings)).trigger()

    deadline = time.monotonic() + 60
    while True:  # the repair runs as an operation of the service: wait for its outcome
        async with stack.http("operator") as http:
            ops = day2((await http.get(f"/v1/services/{service_id}/operations")).json())
        if ops and ops[0]["state"] != "running":
            break
        assert time.monotonic() < deadline, "the deleted workload was never redeployed"
        await asyncio.sleep(0.3)
    assert [w for w in await component_workloads(stack, service_id, "ingest") if w.ready]
    async with stack.http("operator") as http:
        findings = {(f["kind"], f["resource"]): f for f in (await http.get("/v1/findings")).json()}
    assert findings[("orphan-workload", "paris-cloud-k8s/miner")]["action"] == "reported"
    assert findings[("host-powered-off", held[0])]["action"] == "reported"
    assert ("workload-missing", f"{ingest.cluster}/{ingest.id}") in findings
    assert [(o["kind"], o["requested_by"], o["state"]) for o in ops] == [("repair", "reconcile", "succeeded")]
    # never touches what it cannot prove Legato owns
    assert [w for w in await stack.adapters.wdm.list_workloads("paris-cloud-k8s") if w.id == "miner"]
    assert stack.sim.host_power(held[0]) == "off"
    async with stack.http("alpha") as http:  # a tenant sees its own findings only
        mine = (await http.get("/v1/findings")).json()
    assert mine and all(f["service_id"] == service_id for f in mine)

    # the next scan finds the repaired drift gone
    await client.get_schedule_handle(reconcile_id(stack.settings)).trigger()
    deadline = time.monotonic() + 30
    while True:
        async with stack.http("operator") as http:
            open_kinds = {f["kind"] for f in (await http.get("/v1/findings")).json()}
        if "workload-missing" not in open_kinds:
            break
        assert time.monotonic() < deadline, open_kinds
        await asyncio.sleep(0.3)


async def test_schedules_exist_after_start_and_can_be_paused(stack):
    client = await connect(stack.settings)
    await ensure_schedules(client, stack.settings)
    handle = client.get_schedule_handle(reconcile_id(stack.settings))
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every.total_seconds() == stack.settings.reconcile_every_seconds
    await handle.pause(note="maintenance window")
    await ensure_schedules(client, stack.settings)  # a restart keeps the operator's pause
    assert (await handle.describe()).schedule.state.paused
    await handle.unpause()
    # the autopilot's rounds run beside reconcile and rebalance, a Schedule of their own
    autopilot = await client.get_schedule_handle(autopilot_id(stack.settings)).describe()
    assert autopilot.schedule.spec.intervals[0].every.total_seconds() == stack.settings.autopilot_every_seconds
    assert autopilot.schedule.action.workflow == "Autopilot"
