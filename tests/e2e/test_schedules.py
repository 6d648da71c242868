"""Scheduled operations and maintenance windows, end to end: the HTTP API creates schedules, Temporal
(the real dev server) keeps them, and the tests trigger and backfill them through the Temporal
client rather than wait for a cron time. Each run's operation is checked in the operations log and
in the simulator (what the backend was actually asked), so "applies once" is observed, not assumed."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from legato.model.names import run_request_id
from legato.recurrence import Calendar, occurrences, zone
from legato.temporal import connect
from tests.e2e.calls import active, legato, operate
from tests.schedules import backfill, finished, start_backfill
from tests.specs import example
from tests.stack import running_stack


async def temporal(stack) -> Client:
    return await connect(stack.settings)


def night(replicas: int = 1, name: str = "night-scale-down", **changes) -> dict:
    """web-shop's api down to `replicas` at 22:00 Paris time, every day."""
    return {"name": name, "cron": "0 22 * * *", "time_zone": "Europe/Paris",
            "operation": {"kind": "scale", "component": "api", "scale": {"replicas": replicas}}, **changes}


def morning(replicas: int = 2, **changes) -> dict:
    return {"name": "morning-scale-up", "calendar": [{"hour": 6, "minute": 30, "day_of_week": "mon-fri"}],
            "time_zone": "Europe/Paris",
            "operation": {"kind": "scale", "component": "api", "scale": {"replicas": replicas}}, **changes}


async def schedule(stack, service_id: str, body: dict, tenant: str = "alpha", expect: int = 201) -> dict:
    async with stack.http(tenant) as client:
        resp = await client.post(f"/v1/services/{service_id}/schedules", json=body)
    assert resp.status_code == expect, resp.text
    return resp.json()


async def operations(stack, service_id: str) -> dict[str, dict]:
    async with stack.http() as client:
        resp = await client.get(f"/v1/services/{service_id}/operations")
    assert resp.status_code == 200, resp.text
    return {o["request_id"]: o for o in resp.json()}


def last_time(cron: str, tz: str, before: datetime) -> datetime:
    """The last time of `cron` (read in `tz`) before `before`: what a backfill of yesterday runs."""
    times = list(occurrences(Calendar.cron(cron), zone(tz), before - timedelta(days=7), before))
    return times[-1]


async def eventually(check, timeout: float = 60, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(every)


def scale_calls(stack, request_id: str) -> list[str]:
    """The scale operations the simulator was asked for under this request id."""
    return [op for op in stack.sim_ops("wdm.scale") if f"/op/{request_id}/" in op]


async def test_cron_scale_down_and_up_each_apply_once_even_when_backfilled_twice(stack):
    service_id = await active(stack, example("web-shop"))
    down = await schedule(stack, service_id, night())
    up = await schedule(stack, service_id, morning())
    assert down["schedule_id"] == f"{down['tenant']}:{service_id}:night-scale-down"
    assert down["next_runs"] and all(t.endswith(("20:00:00Z", "21:00:00Z")) for t in down["next_runs"])  # 22:00 Paris
    client = await temporal(stack)

    at = last_time("0 22 * * *", "Europe/Paris", datetime.now(UTC))
    first = await backfill(client, down["schedule_id"], at)
    again = await backfill(client, down["schedule_id"], at)  # the same night, backfilled a second time
    rid = run_request_id(down["schedule_id"], at)
    assert (first.request_id, first.state) == (rid, "succeeded"), first
    assert (again.request_id, again.state) == (rid, "succeeded"), again
    assert len(scale_calls(stack, rid)) == 1  # asked of the backend once
    [api] = [w for w in await stack.sim_workloads(service_id) if w.component == "api"]
    assert api.replicas == 1

    morning_at = last_time("30 6 * * mon-fri", "Europe/Paris", datetime.now(UTC))
    for _ in range(2):
        outcome = await backfill(client, up["schedule_id"], morning_at)
        assert outcome.state == "succeeded", outcome
    up_rid = run_request_id(up["schedule_id"], morning_at)
    assert len(scale_calls(stack, up_rid)) == 1
    [api] = [w for w in await stack.sim_workloads(service_id) if w.component == "api"]
    assert api.replicas == 2
    ops = await operations(stack, service_id)
    assert ops[rid]["requested_by"] == "schedule night-scale-down" and ops[rid]["state"] == "succeeded"
    assert ops[up_rid]["requested_by"] == "schedule morning-scale-up"
    await stack.remove(service_id)


async def test_a_worker_killed_during_a_run_applies_it_once(tmp_path, temporal_server):
    async with running_stack(tmp_path / "legato", temporal_server.address, worker="process") as stack:
        service_id = await active(stack, example("web-shop"))
        down = await schedule(stack, service_id, night())
        client = await temporal(stack)
        at = last_time("0 22 * * *", "Europe/Paris", datetime.now(UTC))
        rid = run_request_id(down["schedule_id"], at)
        stack.sim.set_latency("wdm.scale", 3.0)
        workflow_id, before = await start_backfill(client, down["schedule_id"], at)
        # the run has reached the service: its scale is under way (in the slow backend call)
        await eventually(lambda: _state(stack, service_id, rid, "running"))
        await asyncio.sleep(1.0)
        stack.worker_procs[0].send_signal(signal.SIGKILL)
        stack.worker_procs[0].wait(10)
        stack.sim.set_latency("wdm.scale", 0.0)
        stack.start_worker_process()
        outcome = await finished(client, workflow_id, other_than=before, timeout=180)
        assert (outcome.request_id, outcome.state) == (rid, "succeeded"), outcome
        assert len(scale_calls(stack, rid)) == 1
        [api] = [w for w in await stack.sim_workloads(service_id) if w.component == "api"]
        assert api.replicas == 1 and api.ready
        assert [o for o in (await operations(stack, service_id)).values()
                if o["requested_by"] == "schedule night-scale-down"] == [(await operations(stack, service_id))[rid]]


async def _state(stack, service_id: str, rid: str, state: str) -> bool:
    async with stack.http() as client:
        resp = await client.get(f"/v1/services/{service_id}/operations/{rid}")
    return resp.status_code == 200 and resp.json()["state"] == state


async def test_a_run_finding_the_service_busy_is_retried_then_recorded_as_skipped(stack):
    service_id = await active(stack, example("web-shop"))
    down = await schedule(stack, service_id, night(busy_retry_seconds=3))
    stack.sim.set_latency("wdm.upgrade", 8.0)  # a long upgrade keeps the service busy
    await operate(stack, service_id, "components/api/upgrade", {"version": "1.3.0", "request_id": "long-upgrade"},
                  expect=202, wait=False)
    client = await temporal(stack)
    at = last_time("0 22 * * *", "Europe/Paris", datetime.now(UTC))
    outcome = await backfill(client, down["schedule_id"], at)
    stack.sim.set_latency("wdm.upgrade", 0.0)

    assert outcome.state == "skipped" and outcome.attempts >= 2, outcome
    record = (await operations(stack, service_id))[outcome.request_id]
    assert record["state"] == "skipped" and record["requested_by"] == "schedule night-scale-down"
    assert "stayed busy" in record["detail"] and "long-upgrade" in record["detail"]
    assert scale_calls(stack, outcome.request_id) == []  # never applied
    await eventually(lambda: _state(stack, service_id, "long-upgrade", "succeeded"))
    await stack.remove(service_id)


def opening_in(seconds: float) -> tuple[datetime, dict]:
    """A window opening `seconds` from now (to the second, UTC) and lasting ten minutes."""
    opens = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    return opens, {"name": "soon", "calendar": [{"second": opens.second, "minute": opens.minute, "hour": opens.hour,
                                                  "day_of_month": opens.day, "month": opens.month}],
                   "time_zone": "UTC", "duration_minutes": 10}


async def test_an_upgrade_outside_the_window_waits_and_runs_when_it_opens_while_scaling_is_never_held(stack):
    service_id = await active(stack, example("web-shop"))
    windows = f"/v1/services/{service_id}/maintenance-windows"
    async with stack.http() as client:
        # Tuesday nights only, far from now: an upgrade that asks to be refused is refused (409), nothing runs
        resp = await client.put(windows, json={"windows": [{"name": "tuesday-night", "cron": "0 2 * * tue",
                                                            "time_zone": "Europe/Paris", "duration_minutes": 240}]})
        assert resp.status_code == 200 and resp.json()["next_opening"], resp.text
        refused = await client.post(f"/v1/services/{service_id}/components/api/upgrade",
                                    json={"version": "1.3.0", "outside_window": "refuse"})
        assert refused.status_code == 409 and "outside the maintenance windows" in refused.json()["message"]
        # a window opening in a few seconds: the upgrade waits for it
        opens, soon = opening_in(6)
        assert (await client.put(windows, json={"windows": [soon]})).status_code == 200
        waiting = await client.post(f"/v1/services/{service_id}/components/api/upgrade",
                                    json={"version": "1.3.0", "request_id": "u1"})
    assert waiting.status_code == 202, waiting.text
    held = waiting.json()
    assert held["state"] == "waiting" and held["detail"].startswith(
        f"waiting for maintenance window {opens:%Y-%m-%d %H:%M:%S} UTC"), held
    scaled = await operate(stack, service_id, "components/frontend/scale", {"replicas": 3})
    assert scaled["state"] == "succeeded"  # scale-out is never held back, nor refused as busy

    await eventually(lambda: _state(stack, service_id, "u1", "succeeded"))
    record = (await operations(stack, service_id))["u1"]
    assert datetime.fromisoformat(record["started_at"]) >= opens  # it ran once the window opened
    [api] = [w for w in await stack.sim_workloads(service_id) if w.component == "api"]
    assert api.version == "1.3.0"
    await stack.remove(service_id)


async def test_an_operators_cluster_scale_in_respects_the_cluster_window(stack):
    cluster = "paris-cloud-k8s"
    before = set(stack.sim.cluster(cluster).hosts)
    async with stack.http("operator") as client:
        grown = await client.post(f"/v1/clusters/{cluster}/scale", json={"add": 1}, timeout=120)
        assert grown.status_code == 200, grown.text
        [added] = sorted(set(grown.json()["hosts"]) - before)
        windows = {"windows": [{"cron": "0 3 1 1 *", "duration_minutes": 60}]}  # New Year's night only
        assert (await client.put(f"/v1/clusters/{cluster}/maintenance-windows", json=windows)).status_code == 200
        refused = await client.post(f"/v1/clusters/{cluster}/scale",
                                    json={"remove_hosts": [added], "outside_window": "refuse"})
        assert refused.status_code == 409 and "outside the maintenance windows" in refused.json()["message"]
        assert added in stack.sim.cluster(cluster).hosts  # nothing moved
        waiting = await client.post(f"/v1/clusters/{cluster}/scale", json={"remove_hosts": [added]})
        assert waiting.status_code == 202 and waiting.json()["state"] == "waiting", waiting.text
        assert waiting.json()["opens_at"].startswith(f"{datetime.now(UTC).year + 1}-01-01")
        # tenants may read a cluster's windows, not set them
    async with stack.http("alpha") as client:
        assert (await client.get(f"/v1/clusters/{cluster}/maintenance-windows")).status_code == 200
        assert (await client.put(f"/v1/clusters/{cluster}/maintenance-windows", json=windows)).status_code == 403
    handle = (await temporal(stack)).get_workflow_handle(waiting.json()["workflow_id"])
    await handle.terminate("test over: the scale-in would wait until New Year")


async def test_schedules_go_with_their_service(stack):
    service_id = await active(stack, example("web-shop"))
    made = [await schedule(stack, service_id, night()), await schedule(stack, service_id, morning())]
    client = await temporal(stack)
    await stack.remove(service_id)
    for s in made:
        try:
            await client.get_schedule_handle(s["schedule_id"]).describe()
            raise AssertionError(f"{s['schedule_id']} outlived its service")
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND
    refused = await schedule(stack, service_id, night(name="again"), expect=409)
    assert "terminated" in refused["message"]


async def test_other_tenants_neither_see_nor_touch_a_services_schedules(stack):
    service_id = await active(stack, example("web-shop"))
    made = await schedule(stack, service_id, night())
    path = f"/v1/services/{service_id}/schedules"
    async with stack.http("beta") as beta:
        answers = [await beta.get(path), await beta.get(f"{path}/night-scale-down"),
                   await beta.patch(f"{path}/night-scale-down", json={"paused": True}),
                   await beta.delete(f"{path}/night-scale-down"), await beta.post(path, json=night(name="mine")),
                   await beta.get(f"/v1/services/{service_id}/maintenance-windows"),
                   await beta.put(f"/v1/services/{service_id}/maintenance-windows", json={"windows": []})]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all(a.json()["message"] == f"service '{service_id}' not found" for a in answers)
    described = await (await temporal(stack)).get_schedule_handle(made["schedule_id"]).describe()
    assert not described.schedule.state.paused  # beta's PATCH changed nothing
    async with stack.http("operator") as operator:  # an operator sees every tenant's
        seen = await operator.get(f"{path}/night-scale-down")
    assert seen.status_code == 200 and seen.json()["tenant"] == "alpha"
    async with stack.http() as alpha:
        listed = await eventually(lambda: _listed(alpha, path))
    assert [s["name"] for s in listed] == ["night-scale-down"]
    await stack.remove(service_id)


async def _listed(client, path: str) -> list[dict]:
    resp = await client.get(path)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_bad_schedules_are_refused_naming_the_field_and_nothing_is_created(stack):
    service_id = await active(stack, example("web-shop"))
    scale = {"kind": "scale", "component": "api", "scale": {"replicas": 1}}
    cases = [
        ({"cron": "61 22 * * *"}, "cron: Value error, minute: 61 is out of range 0-59"),
        ({"cron": None, "calendar": [{"hour": "25"}]}, "calendar.0.hour"),
        ({"cron": None, "calendar": [{"day_of_week": "funday"}]}, "unknown name 'funday'"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone: Value error, unknown time zone 'Europe/Atlantis'"),
        ({"operation": {**scale, "component": "cache"}}, "operation.component: unknown component 'cache'"),
        ({"operation": {**scale, "scale": {"replicas": -1}}}, "operation.scale.replicas"),
        ({"operation": {**scale, "scale": {"replicas": 1, "request_id": "r1"}}}, "scale.request_id"),
        ({"operation": {"kind": "move", "component": "api", "move": {"site": "atlantis"}}},
         "operation.move.site: unknown site 'atlantis'"),
        ({"operation": {"kind": "scale", "component": "api"}}, "the body of the scale"),
        ({"start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}, "end_at: must be after start_at"),
        ({"start_at": "2030-01-02T00:00:00"}, "start_at"),  # no offset: which time is it?
        ({"cronn": "0 22 * * *"}, "cronn"),
        ({"catchup_window_seconds": 1}, "catchup_window_seconds"),
    ]
    for change, field in cases:
        answer = await schedule(stack, service_id, {**night(), **change}, expect=422)
        assert field in answer["message"], (change, answer["message"])
    client = await temporal(stack)
    sid = f"alpha:{service_id}:night-scale-down"
    try:
        await client.get_schedule_handle(sid).describe()
        raise AssertionError("a refused schedule was created")
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND
    made = await schedule(stack, service_id, night())
    assert (await schedule(stack, service_id, night(), expect=409))["message"].endswith("already")
    async with stack.http() as alpha:
        bad_patch = await alpha.patch(f"/v1/services/{service_id}/schedules/{made['name']}",
                                      json={"time_zone": "Nowhere/Else"})
        assert bad_patch.status_code == 422 and "time_zone" in bad_patch.json()["message"]
    await stack.remove(service_id)


async def test_changes_pause_and_resume_are_what_temporal_holds(stack):
    service_id = await active(stack, example("web-shop"))
    made = await schedule(stack, service_id, night())
    path = f"/v1/services/{service_id}/schedules/{made['name']}"
    handle = (await temporal(stack)).get_schedule_handle(made["schedule_id"])
    async with stack.http() as alpha:
        paused = (await alpha.patch(path, json={"paused": True, "note": "holiday week"})).json()
        described = await handle.describe()
        assert paused["paused"] and described.schedule.state.paused and described.schedule.state.note == "holiday week"
        changed = (await alpha.patch(path, json={"cron": "30 23 * * *", "operation": {
            "kind": "scale", "component": "api", "scale": {"replicas": 1}}, "busy_retry_seconds": 60})).json()
        assert changed["definition"]["cron"] == "30 23 * * *" and changed["definition"]["busy_retry_seconds"] == 60
        assert changed["paused"] and changed["note"] == "holiday week"  # kept through the change
        assert all(t.endswith(("21:30:00Z", "22:30:00Z")) for t in changed["next_runs"])
        resumed = (await alpha.patch(path, json={"paused": False})).json()
        assert not resumed["paused"] and not (await handle.describe()).schedule.state.paused
        assert (await alpha.delete(path)).status_code == 204
        assert (await alpha.get(path)).status_code == 404
    await stack.remove(service_id)


async def test_daylight_saving_days_run_as_temporal_defines_them(stack):
    """02:30 in Paris: the day clocks spring forward over it has no run; the day they fall back and
    02:30 happens twice has one, at the second (standard time). Read from Temporal's own next runs."""
    service_id = await active(stack, example("web-shop"))
    spring = await schedule(stack, service_id, night(name="spring", cron="30 2 * * *", paused=True,
                                                     start_at="2027-03-26T00:00:00Z"))
    fall = await schedule(stack, service_id, night(name="fall", cron="30 2 * * *", paused=True,
                                                   start_at="2027-10-30T00:00:00Z"))
    assert spring["next_runs"][:3] == ["2027-03-26T01:30:00Z", "2027-03-27T01:30:00Z", "2027-03-29T00:30:00Z"]
    assert fall["next_runs"][:3] == ["2027-10-30T00:30:00Z", "2027-10-31T01:30:00Z", "2027-11-01T01:30:00Z"]
    # and Legato's own reading of the same expression (maintenance windows use it) agrees
    for made, since in ((spring, datetime(2027, 3, 26, tzinfo=UTC)), (fall, datetime(2027, 10, 30, tzinfo=UTC))):
        ours = [f"{t:%Y-%m-%dT%H:%M:%SZ}" for t, _ in zip(occurrences(Calendar.cron("30 2 * * *"), zone(
            "Europe/Paris"), since), range(len(made["next_runs"])), strict=False)]
        assert ours == made["next_runs"]
    await stack.remove(service_id)


async def test_the_cli_adds_lists_pauses_resumes_and_removes_schedules_and_status_shows_them(stack):
    service_id = await active(stack, example("web-shop"))
    code, out = await legato(stack, "schedule", "add", service_id, "night-scale-down", "--cron", "0 22 * * *",
                             "--tz", "Europe/Paris", "--scale", "api=1")
    assert code == 0 and "scale api to 1, cron 0 22 * * * (Europe/Paris)" in out, out
    code, out = await legato(stack, "schedule", "add", service_id, "morning", "--calendar",
                             '{"hour": 6, "minute": 30, "day_of_week": "mon-fri"}', "--tz", "Europe/Paris",
                             "--scale", "api=2")
    assert code == 0, out
    code, out = await legato(stack, "schedule", "add", service_id, "bad", "--cron", "0 22 * *", "--scale", "api=1")
    assert code == 1 and "cron" in out and "4 fields" in out, out
    async with stack.http() as alpha:
        await eventually(lambda: _count(alpha, f"/v1/services/{service_id}/schedules", 2))
    code, out = await legato(stack, "schedule", "ls", service_id)
    assert code == 0 and "night-scale-down" in out and "morning" in out and "active" in out, out
    code, out = await legato(stack, "schedule", "pause", service_id, "morning", "--note", "holidays")
    assert code == 0 and "paused" in out, out
    code, out = await legato(stack, "status", service_id)
    assert code == 0 and "schedules:" in out and "night-scale-down: scale api to 1" in out, out
    assert "morning: scale api to 2" in out and "paused (holidays)" in out and " UTC" in out, out
    code, out = await legato(stack, "schedule", "resume", service_id, "morning")
    assert code == 0 and "active" in out, out
    code, out = await legato(stack, "schedule", "rm", service_id, "morning")
    assert code == 0 and "removed" in out, out
    code, out = await legato(stack, "window", "add", service_id, "--cron", "0 2 * * tue", "--tz", "Europe/Paris",
                             "--duration", "240", "--name", "tuesday-night")
    assert code == 0 and "tuesday-night" in out and "next opens" in out, out
    code, out = await legato(stack, "window", "clear", service_id)
    assert code == 0 and "none (no restriction)" in out, out
    await stack.remove(service_id)


async def _count(client, path: str, n: int) -> bool:
    resp = await client.get(path)
    return resp.status_code == 200 and len(resp.json()) == n
