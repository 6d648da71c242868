"""`legato scale|upgrade|move|ops` as an operator types them."""

from tests.e2e.calls import active, legato
from tests.specs import example


async def test_scale_upgrade_move_and_the_operations_log(stack):
    service_id = await active(stack, example("video-analytics"))
    code, out = await legato(stack, "scale", service_id, "ingest", "3")
    assert code == 0 and "scale succeeded" in out and "scale-workload@ingest" in out, out
    rid = out.split("operation ", 1)[1].split()[0]
    assert f"scale@ingest [{rid}]" in out, out  # printed as it is, not read as markup
    code, out = await legato(stack, "upgrade", service_id, "analytics", "1.1.0", "--canary", "--observe-seconds", "0")
    assert code == 0 and "upgrade succeeded" in out and "canary-gate@analytics" in out, out
    code, out = await legato(stack, "move", service_id, "analytics", "--tier", "regional")
    assert code == 0 and "move succeeded" in out and "move analytics: remove-source@analytics" in out, out
    code, out = await legato(stack, "move", service_id, "inference", "--site", "rome-far-edge-1")
    assert code == 1 and "move refused" in out, out
    code, out = await legato(stack, "ops", service_id)
    assert code == 0 and out.count("succeeded") == 4 and "refused" in out and "alpha" in out, out  # deploy too
    assert "deploy" in out, out


async def test_a_progress_deadline_from_the_command_line_undoes_a_stuck_upgrade(stack):
    service_id = await active(stack, example("web-shop"))
    stack.sim.set_never_ready("9.9")
    code, out = await legato(stack, "upgrade", service_id, "api", "9.9", "--deadline", "5")
    assert code == 1 and "upgrade failed" in out and "deadline" in out and "roll-back@api" in out, out
    stack.sim.clear_faults()
    code, out = await legato(stack, "scale", service_id, "api", "3", "--deadline", "60")
    assert code == 0 and "scale succeeded" in out, out


async def test_the_simulator_control_surface_shows_a_canary_failing_and_a_host_dying(stack):
    service_id = await active(stack, example("web-shop"))
    code, out = await legato(stack, "sim", "error-rate", "1.4.0", "0.5")
    assert code == 1 and "403" in out, out  # a tenant may not
    code, out = await legato(stack, "sim", "error-rate", "1.4.0", "0.5", tenant="operator")
    assert code == 0 and "1.4.0 now fail 50%" in out, out
    code, out = await legato(stack, "upgrade", service_id, "api", "1.4.0", "--canary", "--observe-seconds", "0")
    assert code == 1 and "upgrade rolled-back" in out and "health gate" in out, out
    code, out = await legato(stack, "sim", "clear", tenant="operator")
    assert code == 0, out

    [api] = [w for w in await stack.sim_workloads(service_id) if w.component == "api"]
    host = sorted(api.nodes)[0]
    code, out = await legato(stack, "sim", "fail-host", host, tenant="operator")
    assert code == 0 and f"host {host} failed" in out, out
    async with stack.http() as client:
        [now] = [c for c in (await client.get(f"/v1/services/{service_id}")).json()["components"]
                 if c["name"] == "api"][0]["serving"]
    assert now["ready"] == 2 - api.nodes[host], now  # what the host ran no longer serves
    await stack.remove(service_id)
