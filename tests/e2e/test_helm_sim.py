"""Chart components on the simulated continuum, through the HTTP API and Temporal: the mixed example
(deploy/examples/private-5g.yaml: the upf chart, two images, linked) deployed, its chart scaled,
upgraded to a new chart version, upgraded to a version that never becomes ready (rolled back to the
revision that served, as helm rollback does), refused an image, and removed with its release."""

from __future__ import annotations

import time

from tests.e2e.calls import active, component_workloads, legato, operate
from tests.specs import example


async def test_the_mixed_example_and_its_chart_day2_on_the_sim(stack):
    service_id = await active(stack, example("private-5g"))
    [upf] = await component_workloads(stack, service_id, "upf")
    assert (upf.version, upf.revision, upf.ready) == ("1.0.0", 1, True)
    for name in ("smf", "mec-app"):
        [w] = await component_workloads(stack, service_id, name)
        assert w.revision is None and w.ready  # the images are plain workloads
    async with stack.http() as http:
        svc = (await http.get(f"/v1/services/{service_id}")).json()
    assert svc["state"] == "active" and all(c["endpoint"] for c in svc["components"])

    assert (await operate(stack, service_id, "components/upf/scale", {"replicas": 3}))["state"] == "succeeded"
    record = await operate(stack, service_id, "components/upf/upgrade", {"version": "1.1.0"})
    assert record["state"] == "succeeded", record

    stack.sim.set_never_ready("1.2.0")
    since = time.time()
    record = await operate(stack, service_id, "components/upf/upgrade",
                           {"version": "1.2.0", "progress_deadline_seconds": 5})
    assert record["state"] == "failed" and "rolled back" in record["detail"], record
    assert stack.sim.serving(service_id, "upf", since).min_ready >= 3  # 1.1.0 served all along
    [upf] = await component_workloads(stack, service_id, "upf")
    history = stack.sim.releases(upf.cluster, upf.id)
    assert [(r["revision"], r["version"], r["description"]) for r in history] == [
        (1, "1.0.0", "Install complete"), (2, "1.0.0", "Upgrade complete"), (3, "1.1.0", "Upgrade complete"),
        (4, "1.2.0", "Upgrade complete"), (5, "1.1.0", "Rollback to 3")]  # fmt: skip
    assert history[-1]["values"]["image"] == {"tag": "1.1.0"} and history[-1]["values"]["replicaCount"] == 3

    # New values on day 2 (the same chart version): merged over the chart's, a new revision, kept in the spec.
    record = await operate(stack, service_id, "components/upf/upgrade",
                           {"version": "1.1.0", "values": {"config": {"mtu": 9000}}})
    assert record["state"] == "succeeded" and "new values" in record["detail"], record
    [upf] = await component_workloads(stack, service_id, "upf")
    latest = stack.sim.releases(upf.cluster, upf.id)[-1]
    assert (latest["revision"], latest["version"]) == (6, "1.1.0")
    assert latest["values"]["config"] == {"dnn": "campus", "mtu": 9000} and latest["values"]["replicaCount"] == 3
    async with stack.http() as http:
        spec = (await http.get(f"/v1/services/{service_id}")).json()["spec"]
    assert next(c for c in spec["components"] if c["name"] == "upf")["chart"]["values"]["config"]["mtu"] == 9000
    code, out = await legato(stack, "upgrade", service_id, "upf", "1.1.0", "--set", "config.mtu=1500")
    assert code == 0 and "upgrade succeeded" in out, out  # the command line's --set (and --values FILE)
    assert stack.sim.releases(upf.cluster, upf.id)[-1]["values"]["config"] == {"dnn": "campus", "mtu": 1500}
    # Values are a chart's: an image component's upgrade with values is refused naming the field.
    refused = await operate(stack, service_id, "components/smf/upgrade", {"version": "2.0.0", "values": {"a": 1}},
                            expect=422)
    assert "values" in str(refused), refused
    refused = await operate(stack, service_id, "components/upf/upgrade", {"version": "1.1.0", "values": [1]},
                            expect=422)
    assert "values" in str(refused), refused

    refused = await operate(stack, service_id, "components/upf/upgrade", {"version": "1.3.0", "image": "x/upf"})
    assert refused["state"] == "refused" and "is a chart" in refused["detail"], refused

    await stack.remove(service_id)
    assert stack.sim.releases(upf.cluster, upf.id) == []
