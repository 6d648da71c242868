"""The `legato` command as an operator types it, against a running API."""

import asyncio

from tests.e2e.calls import legato
from tests.stack import EXAMPLES


async def test_deploy_wait_ls_status_rm(stack):
    stack.sim.set_latency("mcm.create_cluster", 1.0)  # long enough to see progress
    code, out = await legato(stack, "deploy", str(EXAMPLES / "video-analytics.yaml"), "--wait")
    assert code == 0, out
    for words in ("✓ place", "allocate-hosts@", "create-cluster@", "deploy@ingest", "link@", "state: active",
                  "endpoints of"):
        assert words in out, (words, out)
    service_id = out.split("service ", 1)[1].split()[0]

    code, out = await legato(stack, "ls")
    assert code == 0 and service_id in out and "active" in out
    code, out = await legato(stack, "status", service_id)
    assert code == 0 and "ingest →" in out and "active" in out
    code, out = await legato(stack, "rm", service_id, "--wait")
    assert code == 0 and "terminated" in out, out
    assert stack.sim.leftovers(service_id) == {"hosts": 0, "clusters": 0, "workloads": 0, "connections": 0}


async def test_cli_reports_bad_input_without_a_traceback(stack, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\ncomponents:\n  - {name: a, image: i, cpu: -1}\n")
    code, out = await legato(stack, "deploy", str(spec))
    assert code == 1 and "422" in out and "components.0.cpu" in out and "Traceback" not in out
    code, out = await legato(stack, "status", "missing")
    assert code == 1 and "404" in out


async def test_following_outlasts_an_api_restart_and_watch_reattaches(stack):
    stack.sim.set_latency("mcm.create_cluster", 3.0)
    follower = asyncio.create_task(legato(stack, "deploy", str(EXAMPLES / "video-analytics.yaml"), "--wait"))
    await asyncio.sleep(1.5)
    await asyncio.to_thread(stack.restart_api, 2.0)
    code, out = await follower
    assert code == 0 and "the API does not answer" in out and "the API answers again" in out, out
    assert "state: active" in out, out
    service_id = out.split("service ", 1)[1].split()[0]

    code, out = await legato(stack, "watch", service_id)  # nothing running: its state now
    assert code == 0 and f"{service_id}: active" in out, out
    code, out = await legato(stack, "rm", service_id, "--wait")
    assert code == 0 and "terminated" in out and "✓ deploy@ingest" not in out and "undo" in out, out


async def test_status_explains_the_service_as_it_is_after_a_move(stack):
    code, out = await legato(stack, "deploy", str(EXAMPLES / "video-analytics.yaml"), "--wait")
    assert code == 0, out
    service_id = out.split("service ", 1)[1].split()[0]
    code, out = await legato(stack, "move", service_id, "analytics", "--site", "lyon-regional")
    assert code == 0, out
    code, out = await legato(stack, "status", service_id)
    assert code == 0, out
    assert "analytics → lyon-regional" in out and "moved here by operation" in out, out
    assert "history:" in out and "earlier deployment or operation" in out, out
    assert "ready on" in out, out  # what serves now, per component
    await stack.remove(service_id)
