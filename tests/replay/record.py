"""Record the histories the replay suite replays: `python -m tests.replay.record [--only NAME ...]`.

Each scenario starts its own Temporal dev server (two for the federated one) and a whole Legato
on it (tests/stack.py: real HTTP API, worker, simulator), drives one path through the API and the
simulator's failure controls, waits until every workflow on the server has closed, and writes
each run's history to `tests/replay/histories/<scenario>__<WorkflowType>__<n>.json`: the JSON of
`WorkflowHistory.to_json()` plus the run's `workflowId` (replay needs it: child workflow ids are
derived from it; `WorkflowHistory.from_json` ignores the extra key). A scenario's old files are
removed first. Re-recording gives new ids and timestamps; what matters is that the stored
histories replay against the code (tests/replay/test_replay.py).

A change that alters a workflow's commands goes behind `workflow.patched` (or worker versioning),
and the histories recorded before it stay: record the new path under a new scenario name.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from legato.devserver import DevServer, free_port
from legato.recurrence import Calendar, occurrences, zone
from legato.schedules import reconcile_schedule
from legato.temporal import connect
from legato.workflows.rebalance import Rebalance, RebalanceParams
from legato.workflows.reconcile import Reconcile
from tests.e2e.test_autopilot import (
    autopilot_round,
    loaded,
    policy,
    test_a_failed_cluster_is_left_make_before_break_and_cleaned_up_once_back,
)
from tests.e2e.test_following_users import (
    test_a_user_shift_moves_the_entry_component_toward_the_users_with_the_path_connected as follow_users,
)
from tests.federation import ROAMING, federated_pair
from tests.specs import example, scale_path_spec
from tests.stack import Stack, running_stack
from tests.tmf import INVENTORY, ORDERING, Listener, add, cancel_while_deploying, delete, modify, order, wait_order

HISTORIES = Path(__file__).resolve().parent / "histories"


# --- driving the stack ---------------------------------------------------------------------------

async def active(stack: Stack, spec: dict, tenant: str = "alpha") -> str:
    service_id = await stack.deploy(spec, tenant)
    svc = await stack.wait_state(service_id, {"active", "failed"}, tenant=tenant)
    assert svc["state"] == "active", svc.get("error")
    return service_id


async def operate(stack: Stack, service_id: str, path: str, body: dict, method: str = "POST") -> dict:
    async with stack.http() as client:
        resp = await client.request(method, f"/v1/services/{service_id}{path}", json=body, timeout=120)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def expect(stack: Stack, service_id: str, path: str, body: dict, state: str, method: str = "POST") -> dict:
    record = await operate(stack, service_id, path, body, method)
    assert record["state"] == state, record
    return record


async def terminate(stack: Stack, service_id: str, tenant: str = "alpha") -> None:
    async with stack.http(tenant) as client:
        resp = await client.delete(f"/v1/services/{service_id}")
    assert resp.status_code == 202, resp.text
    await stack.wait_state(service_id, {"terminated"}, tenant=tenant)


async def temporal_client(stack: Stack) -> Client:
    return await connect(stack.settings)


# --- scenarios: each drives one path on a fresh server -------------------------------------------

async def deploy_terminate(stack: Stack) -> None:
    """A deployment to active (video-analytics: hosts, clusters, links, user QoS), then DELETE."""
    await terminate(stack, await active(stack, example("video-analytics")))


async def deploy_rollback(stack: Stack) -> None:
    """A deployment whose workload deploy fails for good: the saga undoes every step, state failed."""
    stack.sim.set_fault("wdm.deploy", permanent=True)
    service_id = await stack.deploy(example("video-analytics"))
    svc = await stack.wait_state(service_id, {"active", "failed"})
    assert svc["state"] == "failed", svc
    stack.sim.clear_faults()


async def scale(stack: Stack) -> None:
    """Scale out and in; on the shared cluster, out grows it (ScaleCluster children at deploy and at
    scale) and in gives its nodes back (ScaleCluster child); then terminate."""
    shop = await active(stack, example("web-shop"))
    await expect(stack, shop, "/components/api/scale", {"replicas": 5}, "succeeded")
    await expect(stack, shop, "/components/api/scale", {"replicas": 2}, "succeeded")
    big = await active(stack, scale_path_spec())
    await expect(stack, big, "/components/batch/scale", {"replicas": 14}, "succeeded")
    await expect(stack, big, "/components/batch/scale", {"replicas": 10}, "succeeded")
    for service_id in (shop, big):
        await terminate(stack, service_id)


async def rolling_upgrade(stack: Stack) -> None:
    service_id = await active(stack, example("web-shop"))
    stack.sim.set_ready_delay(0.3)
    await expect(stack, service_id, "/components/api/upgrade", {"version": "1.3.0"}, "succeeded")
    stack.sim.set_ready_delay(0.0)
    await terminate(stack, service_id)


async def canary_upgrade(stack: Stack) -> None:
    """A canary that passes its gate, then one that fails it (error rate) and is rolled back."""
    service_id = await active(stack, example("web-shop"))
    canary = {"version": "1.3.0", "strategy": "canary",
              "canary": {"replicas": 1, "max_error_rate": 0.05, "observe_seconds": 0.5}}
    await expect(stack, service_id, "/components/api/upgrade", canary, "succeeded")
    stack.sim.set_error_rate("1.4.0", 0.4)
    await expect(stack, service_id, "/components/api/upgrade", {**canary, "version": "1.4.0"}, "rolled-back")
    await terminate(stack, service_id)


async def upgrade_deadline(stack: Stack) -> None:
    """A version that never becomes ready: the upgrade misses its progress deadline and undoes itself."""
    service_id = await active(stack, example("web-shop"))
    stack.sim.set_never_ready("9.9")
    record = await operate(stack, service_id, "/components/api/upgrade",
                           {"version": "9.9", "progress_deadline_seconds": 5})
    assert record["state"] in ("failed", "rolled-back") and "deadline" in record["detail"], record
    stack.sim.clear_faults()
    await terminate(stack, service_id)


async def chart_day2(stack: Stack) -> None:
    """The private-5g example (a Helm chart and images): the chart scaled, upgraded to a new chart
    version, to new values, with a canary, to a version that never becomes ready (rolled back), and
    an image refused; then DELETE."""
    service_id = await active(stack, example("private-5g"))
    await expect(stack, service_id, "/components/upf/scale", {"replicas": 3}, "succeeded")
    await expect(stack, service_id, "/components/upf/upgrade", {"version": "1.1.0"}, "succeeded")
    await expect(stack, service_id, "/components/upf/upgrade",
                 {"version": "1.1.0", "values": {"config": {"mtu": 9000}}}, "succeeded")
    await expect(stack, service_id, "/components/upf/upgrade",
                 {"version": "1.3.0", "values": {"config": {"mtu": 1500}}, "strategy": "canary",
                  "canary": {"replicas": 1, "max_error_rate": 0.05, "observe_seconds": 0.5}}, "succeeded")
    stack.sim.set_never_ready("1.4.0")
    record = await operate(stack, service_id, "/components/upf/upgrade",
                           {"version": "1.4.0", "values": {"config": {"mtu": 1400}}, "progress_deadline_seconds": 5})
    assert record["state"] == "failed" and "rolled back" in record["detail"], record
    stack.sim.clear_faults()
    await expect(stack, service_id, "/components/upf/upgrade", {"version": "1.5.0", "image": "x/upf"}, "refused")
    await terminate(stack, service_id)


async def move(stack: Stack) -> None:
    """A make-before-break move (MigrateWorkload child), and one that fails at the target (the child
    fails, the source keeps serving); then terminate."""
    service_id = await active(stack, example("video-analytics"))
    await expect(stack, service_id, "/components/ingest/move", {"placement": {"tiers": ["far-edge"]}}, "succeeded")
    stack.sim.set_fault("wdm.deploy", permanent=True)
    await expect(stack, service_id, "/components/analytics/move", {"placement": {"tiers": ["regional"]}}, "failed")
    stack.sim.clear_faults()
    await terminate(stack, service_id)


async def update(stack: Stack) -> None:
    """PATCH the service: labels, then a policy (which warns about what it breaks)."""
    service_id = await active(stack, example("web-shop"))
    await expect(stack, service_id, "", {"labels": {"team": "shop", "tier": "gold"}}, "succeeded", "PATCH")
    await expect(stack, service_id, "", {"policy": {"allowed_countries": ["DE"]}}, "succeeded", "PATCH")
    await terminate(stack, service_id)


async def repair(stack: Stack) -> None:
    """Drift behind Legato's back; a Reconcile run finds it and signals the service, which repairs
    itself as an operation; a second Reconcile run finds nothing to repair."""
    service_id = await active(stack, example("video-analytics"))
    [ingest] = [w for w in await stack.sim_workloads(service_id) if w.component == "ingest"]
    stack.sim.delete_workload_behind_back(ingest.id)
    client = await temporal_client(stack)
    await _reconcile(client, stack, "reconcile-1")
    deadline = time.monotonic() + 60
    while True:
        async with stack.http() as http:
            ops = [o for o in (await http.get(f"/v1/services/{service_id}/operations")).json() if o["kind"] == "repair"]
        if ops and ops[0]["state"] != "running":
            break
        assert time.monotonic() < deadline, "the repair never ended"
        await asyncio.sleep(0.3)
    assert ops[0]["state"] == "succeeded", ops
    await _reconcile(client, stack, "reconcile-2")
    await terminate(stack, service_id)


async def _reconcile(client: Client, stack: Stack, workflow_id: str):
    """One Reconcile run, started as its Temporal Schedule starts it."""
    action = reconcile_schedule(stack.settings).action
    return await client.execute_workflow(Reconcile.run, id=workflow_id, task_queue=stack.settings.task_queue,
                                         execution_timeout=action.execution_timeout)


async def continue_as_new(stack: Stack) -> None:
    """The entity workflow continues as new (the server suggests it at 40 events), then serves an
    upgrade and a terminate in its new run, with the state it carried across."""
    service_id = await active(stack, example("web-shop"))
    handle = (await temporal_client(stack)).get_workflow_handle(f"service-{service_id}")
    first_run = (await handle.describe()).run_id
    await expect(stack, service_id, "/components/api/scale", {"replicas": 3, "request_id": "r1"}, "succeeded")
    deadline = time.monotonic() + 60
    while (await handle.describe()).run_id == first_run:
        assert time.monotonic() < deadline, "the entity workflow never continued as new"
        await asyncio.sleep(0.3)
    await expect(stack, service_id, "/components/frontend/upgrade", {"version": "1.28-alpine"}, "succeeded")
    await terminate(stack, service_id)


async def tmf_order(stack: Stack) -> None:
    """TMF641 orders: add (a DeployService child), modify (scale and upgrade through the service's
    operate), delete (terminate); a TMF listener registered meanwhile (DeliverEvents) is removed at
    the end, which ends its workflow."""
    with Listener() as listener:
        async with stack.http() as client:
            hub = await client.post(f"{ORDERING}/hub", json={"callback": listener.url})
            assert hub.status_code == 201, hub.text
            created = await client.post(f"{ORDERING}/serviceOrder", json=order(add("web-shop", api__replicas=3)))
            assert created.status_code == 201, created.text
            done = await wait_order(client, created.json()["id"], {"completed", "failed", "partial"})
            assert done["state"] == "completed", done
            service_id = done["serviceOrderItem"][0]["service"]["id"]
            changed = await client.post(f"{ORDERING}/serviceOrder", json=order(
                modify(service_id, api__replicas=4, api__version="1.3.0")))
            done = await wait_order(client, changed.json()["id"], {"completed", "failed", "partial"})
            assert done["state"] == "completed", done
            removed = await client.post(f"{ORDERING}/serviceOrder", json=order(delete(service_id)))
            done = await wait_order(client, removed.json()["id"], {"completed", "failed", "partial"})
            assert done["state"] == "completed", done
            await listener.wait_for(lambda: any(e["eventType"] == "ServiceOrderStateChangeEvent"
                                                and e["event"]["serviceOrder"]["id"] == removed.json()["id"]
                                                and e["event"]["serviceOrder"]["state"] == "completed"
                                                for e in listener.events))
            assert (await client.delete(f"{ORDERING}/hub/{hub.json()['id']}")).status_code == 204


async def tmf_cancel(stack: Stack) -> None:
    """A TMF641 order cancelled while its service deploys: the compensation terminates the service."""
    async with stack.http() as client:
        _, done = await cancel_while_deploying(stack, client)
        assert done["state"] == "cancelled", done
        service_id = done["serviceOrderItem"][0]["service"]["id"]
        assert (await client.get(f"{INVENTORY}/service/{service_id}")).json()["state"] == "terminated"


async def priced_out(stack: Stack) -> str:
    """video-analytics deployed, then its analytics site's price raised fivefold: a move to gain."""
    service_id = await active(stack, example("video-analytics"))
    async with stack.http() as http:
        site = {c["name"]: c["site"] for c in (await http.get(f"/v1/services/{service_id}")).json()["components"]}
    async with stack.http("operator") as http:
        resp = await http.patch(f"/v1/sites/{site['analytics']}", json={"cost_per_vcpu_hour": 5})
        assert resp.status_code == 200, resp.text
    return service_id


async def rebalance(stack: Stack) -> None:
    """A price rise; a Rebalance run in approve mode proposes a move, the tenant approves it
    (ApplyProposal: the service's own move), an auto-mode run then finds nothing to gain."""
    service_id = await priced_out(stack)
    client = await temporal_client(stack)
    await _rebalance(client, stack, "rebalance-1", "approve")
    async with stack.http() as http:
        [proposal] = (await http.get("/v1/proposals", params={"state": "pending"})).json()["items"]
        resp = await http.post(f"/v1/proposals/{proposal['id']}/approve", timeout=120)
        assert resp.status_code == 200 and resp.json()["state"] == "done", resp.text
    summary = await _rebalance(client, stack, "rebalance-2", "auto")
    assert summary.proposals == 0, summary
    await terminate(stack, service_id)


async def _rebalance(client: Client, stack: Stack, workflow_id: str, mode: str):
    return await client.execute_workflow(Rebalance.run, RebalanceParams(mode=mode, min_gain=0.1), id=workflow_id,
                                         task_queue=stack.settings.task_queue,
                                         execution_timeout=timedelta(seconds=stack.settings.rebalance_every_seconds))


async def rebalance_auto(stack: Stack) -> None:
    """A Rebalance run in auto mode that carries a move out itself."""
    service_id = await priced_out(stack)
    summary = await _rebalance(await temporal_client(stack), stack, "rebalance-auto", "auto")
    assert summary.outcomes == {"done": 1}, summary
    await terminate(stack, service_id)


async def cluster_scale(stack: Stack) -> None:
    """An operator grows a shared cluster by two hosts and gives them back (ScaleCluster, top level)."""
    cluster = "paris-cloud-k8s"
    before = set(stack.sim.cluster(cluster).hosts)
    async with stack.http("operator") as http:
        grown = await http.post(f"/v1/clusters/{cluster}/scale", json={"add": 2}, timeout=120)
        assert grown.status_code == 200, grown.text
        added = sorted(set(grown.json()["hosts"]) - before)
        shrunk = await http.post(f"/v1/clusters/{cluster}/scale", json={"remove_hosts": added}, timeout=120)
        assert shrunk.status_code == 200, shrunk.text


async def cluster_upgrade(stack: Stack) -> None:
    """An operator moves a shared cluster one minor up while a service runs on it (UpgradeCluster):
    a node that cannot be replaced stops the roll after the control plane; asked again, it resumes."""
    cluster = "milan-cloud-k8s"
    service_id = await active(stack, {"name": "work", "components": [{
        "name": "work", "image": "registry.example/work", "version": "1", "replicas": 3, "cpu": 10,
        "memory_mb": 1024, "placement": {"sites": ["milan-cloud"]}}]})
    stack.sim.set_fault("mcm.upgrade_nodes", permanent=True)
    async with stack.http("operator") as http:
        stopped = await http.post(f"/v1/clusters/{cluster}/upgrade", json={"version": "v1.35.4", "request_id": "a"},
                                  params={"wait": 120}, timeout=180)
        assert stopped.status_code == 409 and "stopped at node" in stopped.text, stopped.text
        stack.sim.clear_faults()
        resumed = await http.post(f"/v1/clusters/{cluster}/upgrade", json={"version": "v1.35.4", "request_id": "b"},
                                  params={"wait": 120}, timeout=180)
        assert resumed.status_code == 200 and resumed.json()["state"] == "done", resumed.text
    await terminate(stack, service_id)


async def scheduled_operations(stack: Stack) -> None:
    """A service's schedules (ScheduledOperation runs, backfilled as Temporal's Schedule starts them):
    a scale that applies; a scale that finds the service busy, retries, and is recorded skipped; an
    upgrade due outside the service's maintenance window, which the service holds (a timer) and runs
    when the window opens. Then terminate: the service removes its schedules (a patched step)."""
    from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy

    service_id = await active(stack, example("web-shop"))
    client = await temporal_client(stack)

    async def scheduled(body: dict, state: str) -> None:
        """Create the schedule, backfill its last time before now, and wait for that run to end."""
        now = datetime.now(UTC)
        at = list(occurrences(Calendar.cron(body["cron"]), zone(body.get("time_zone", "UTC")),
                              now - timedelta(days=8), now))[-1]
        async with stack.http() as http:
            resp = await http.post(f"/v1/services/{service_id}/schedules", json=body)
            assert resp.status_code == 201, resp.text
        sid = resp.json()["schedule_id"]
        await client.get_schedule_handle(sid).backfill(ScheduleBackfill(
            start_at=at, end_at=at + timedelta(seconds=1), overlap=ScheduleOverlapPolicy.ALLOW_ALL))
        handle = client.get_workflow_handle(f"{sid}-{at:%Y-%m-%dT%H:%M:%SZ}")
        deadline = time.monotonic() + 60
        while True:
            try:
                outcome = await handle.result()
                break
            except RPCError:  # not started yet
                assert time.monotonic() < deadline, f"{sid} never ran"
                await asyncio.sleep(0.2)
        assert outcome["state"] == state, outcome

    scale = {"kind": "scale", "component": "api", "scale": {"replicas": 1}}
    await scheduled({"name": "night", "cron": "0 22 * * *", "time_zone": "Europe/Paris", "operation": scale},
                    "succeeded")
    stack.sim.set_latency("wdm.scale", 4.0)
    busy = operate_async(stack, service_id, "/components/frontend/scale", {"replicas": 3, "request_id": "busy"})
    deadline = time.monotonic() + 30
    while True:  # the service is busy with it
        async with stack.http() as http:
            if (await http.get(f"/v1/services/{service_id}/operations/busy")).status_code == 200:
                break
        assert time.monotonic() < deadline, "the scale never started"
        await asyncio.sleep(0.1)
    await scheduled({"name": "busy", "cron": "0 22 * * *", "time_zone": "Europe/Paris", "busy_retry_seconds": 1,
                     "operation": {**scale, "scale": {"replicas": 2}}}, "skipped")
    stack.sim.set_latency("wdm.scale", 0.0)
    await busy
    opens = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    window = {"calendar": [{"second": opens.second, "minute": opens.minute, "hour": opens.hour}],
              "duration_minutes": 10}
    async with stack.http() as http:
        resp = await http.put(f"/v1/services/{service_id}/maintenance-windows", json={"windows": [window]})
        assert resp.status_code == 200, resp.text
    await scheduled({"name": "patch-tuesday", "cron": "0 2 * * tue", "operation": {
        "kind": "upgrade", "component": "api", "upgrade": {"version": "1.3.0"}}}, "waiting")
    deadline = time.monotonic() + 60
    while True:
        async with stack.http() as http:
            ops = [o for o in (await http.get(f"/v1/services/{service_id}/operations")).json()
                   if o["requested_by"] == "schedule patch-tuesday"]
        if ops and ops[0]["state"] not in ("waiting", "running"):
            break
        assert time.monotonic() < deadline, "the upgrade never ran in its window"
        await asyncio.sleep(0.3)
    assert ops[0]["state"] == "succeeded", ops
    await terminate(stack, service_id)


def operate_async(stack: Stack, service_id: str, path: str, body: dict) -> asyncio.Task:
    """An operation sent now and awaited later (it keeps the service busy meanwhile)."""
    return asyncio.create_task(operate(stack, service_id, path, body))


async def federation(home: Stack, partner: Stack) -> None:
    """A service part of which a partner operator runs (FederateRequest child at home, the partner's
    own DeployService there), a scale forwarded to the partner, then terminate at both."""
    service_id = await home.deploy(ROAMING)
    svc = await home.wait_state(service_id, {"active", "failed"}, timeout=180)
    assert svc["state"] == "active", svc.get("error")
    await expect(home, service_id, "/components/edge-app/scale", {"replicas": 3}, "succeeded")
    await terminate(home, service_id)


@dataclass(frozen=True)
class Scenario:
    drive: Callable[..., Awaitable[None]]  # (stack), or (home, partner) for a federated one
    server_flags: tuple[str, ...] = ()
    keep: frozenset[str] | None = None  # the workflow types worth storing (None: all)
    federated: bool = False


# Every workflow type and path: deployment, each day-2 kind, rollbacks, terminate, continue-as-new,
# federation, TMF orders and their cancellation, reconcile and rebalance runs, cluster scaling and upgrade.
async def service_cluster_upgrade(stack: Stack) -> None:
    """A service upgrades the cluster created for it (a day-2 operation: surge node, UpgradeCluster
    child, the surge node given back), then goes."""
    service_id = await active(stack, example("video-analytics"))
    async with stack.http() as http:
        components = (await http.get(f"/v1/services/{service_id}")).json()["components"]
        cluster = next(c["cluster"] for c in components if not stack.inventory.cluster(c["cluster"]).shared)
        done = await http.post(f"/v1/services/{service_id}/clusters/{cluster}/upgrade", json={"version": "v1.35.4"},
                               params={"timeout": 120}, timeout=180)
        assert done.status_code == 200 and done.json()["state"] == "succeeded", done.text
    await terminate(stack, service_id)


async def autopilot(stack: Stack) -> None:
    """Autopilot rounds: one scales a component loaded above its SLO's band (its own scale
    operation, asked by `autopilot`), the next measures the effect; in approval mode a round
    proposes and an approval carries it out (ApplyAutopilotAction)."""
    await policy(stack, approval="auto")
    service_id = await loaded(stack)
    assert (await autopilot_round(stack)).outcomes == {"done": 1}
    assert (await autopilot_round(stack)).measured == 1
    await terminate(stack, service_id)
    await policy(stack, approval="approve")  # then a proposal, approved (ApplyAutopilotAction)
    service_id = await loaded(stack)
    first = await autopilot_round(stack)
    measure_id = first.actions[0].split(": ", 1)[0]
    async with stack.http() as http:
        approved = await http.post(f"/v1/measures/{measure_id}/approve", timeout=120)
        assert approved.status_code == 200 and approved.json()["state"] == "done", approved.text
    await terminate(stack, service_id)


SCENARIOS: dict[str, Scenario] = {
    "deploy_terminate": Scenario(deploy_terminate),
    "deploy_rollback": Scenario(deploy_rollback),
    "scale": Scenario(scale),
    "rolling_upgrade": Scenario(rolling_upgrade),
    "canary_upgrade": Scenario(canary_upgrade),
    "upgrade_deadline": Scenario(upgrade_deadline),
    "chart_day2": Scenario(chart_day2),
    "move": Scenario(move),
    "update": Scenario(update),
    "repair": Scenario(repair),
    "continue_as_new": Scenario(continue_as_new, ("--dynamic-config-value",
                                                  "limit.historyCount.suggestContinueAsNew=40")),
    "federation": Scenario(federation, federated=True),
    "tmf_order": Scenario(tmf_order),
    "tmf_cancel": Scenario(tmf_cancel),
    "rebalance": Scenario(rebalance),
    "rebalance_auto": Scenario(rebalance_auto, keep=frozenset({"Rebalance"})),  # the move is as in `rebalance`
    "cluster_scale": Scenario(cluster_scale),
    "cluster_upgrade": Scenario(cluster_upgrade, keep=frozenset({"UpgradeCluster"})),
    # since the scalings join the cluster's operations (scale_cluster.JOINS_CLUSTER_OPERATIONS)
    "cluster_scale_joined": Scenario(cluster_scale, keep=frozenset({"ScaleCluster"})),
    "service_cluster_upgrade": Scenario(service_cluster_upgrade),
    "autopilot": Scenario(autopilot),
    # a failed cluster healed (a move whose source does not answer), then cleaned up once back
    "autopilot_heal": Scenario(test_a_failed_cluster_is_left_make_before_break_and_cleaned_up_once_back),
    "scheduled_operations": Scenario(scheduled_operations),
    # the users moved to another city: an Autopilot round moves the entry component toward them (the
    # move itself is the `move` scenario's path; its DeployService and MigrateWorkload are not kept)
    "follow_users": Scenario(follow_users, keep=frozenset({"Autopilot"})),
}


# --- recording -----------------------------------------------------------------------------------

async def histories(client: Client, timeout: float = 120) -> list[tuple[str, str, str]]:
    """(workflow type, workflow id, history JSON) of every run on the server, oldest first, once
    none is running."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [w async for w in client.list_workflows()]
        running = [f"{w.workflow_type} {w.id}" for w in runs if w.status == WorkflowExecutionStatus.RUNNING]
        if not running:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"still running: {running}")
        await asyncio.sleep(0.5)
    out = []
    for run in sorted(runs, key=lambda w: (w.start_time, w.id)):
        history = await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
        out.append((run.workflow_type, run.id, history.to_json()))
    return out


def compact(workflow_id: str, text: str) -> str:
    """The history JSON with its workflow id, one event a line."""
    events = json.loads(text)["events"]
    lines = ",\n".join(json.dumps(e, separators=(",", ":")) for e in events)
    return f'{{"workflowId":{json.dumps(workflow_id)},"events":[\n{lines}\n]}}\n'


def write(scenario: str, found: list[tuple[str, str, str]]) -> list[Path]:
    HISTORIES.mkdir(parents=True, exist_ok=True)
    for old in HISTORIES.glob(f"{scenario}__*.json"):
        old.unlink()
    counts: dict[str, int] = {}
    paths = []
    for workflow_type, workflow_id, text in found:
        counts[workflow_type] = counts.get(workflow_type, 0) + 1
        path = HISTORIES / f"{scenario}__{workflow_type}__{counts[workflow_type]}.json"
        path.write_text(compact(workflow_id, text))
        paths.append(path)
    return paths


async def record(name: str, tmp: Path) -> list[Path]:
    scenario = SCENARIOS[name]
    if scenario.federated:
        async with federated_pair(tmp) as (home, partner):
            await scenario.drive(home.stack, partner.stack)
            found = []
            for side in (home, partner):
                found += await histories(await connect(side.stack.settings))
    else:
        server = DevServer(tmp / "temporal.db", port=free_port(), ui_port=None, log_file=tmp / "temporal.log",
                           extra_args=list(scenario.server_flags))
        server.start()
        try:
            async with running_stack(tmp / "legato", server.address) as stack:
                await scenario.drive(stack)
                found = await histories(await connect(stack.settings))
        finally:
            server.stop()
    return write(name, [f for f in found if scenario.keep is None or f[0] in scenario.keep])


async def main(names: list[str]) -> None:
    for name in names:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"legato-record-{name}-") as tmp:
            paths = await record(name, Path(tmp))
        sizes = ", ".join(f"{p.name.split('__', 1)[1]} {p.stat().st_size // 1024} KB" for p in paths)
        print(f"{name}: {len(paths)} histories in {time.monotonic() - started:.0f} s ({sizes})", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), metavar="NAME",
                        help=f"record this scenario only (repeatable); one of {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)  # the failures the scenarios inject
    asyncio.run(main(args.only or list(SCENARIOS)))
