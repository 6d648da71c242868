"""Chart components on the simulated continuum: a release per workload, its revisions as Helm keeps
them (install, upgrade, scale, rollback to the previous revision, uninstall), and the spec's
validation of charts (image xor chart, a pinned version, the chart reference, values files)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from legato.adapters.wdm.sim import SimWDM
from legato.model import ServiceSpec
from legato.model.charts import ChartSource, inline_values_files, release_values, values_of
from legato.model.workloads import WorkloadSpec
from legato.simulator import SimContinuum
from tests.unit.simulator.test_sim_day2 import edge_cluster, topology

CHART = ChartSource(ref="http://127.0.0.1:8879", name="upf", values={"mode": "edge"}, version_path="image.tag")


def chart_spec(id_: str = "upf-1", *, replicas: int = 2, version: str = "1.0.0") -> WorkloadSpec:
    return WorkloadSpec(id=id_, service_id="s1", tenant="t1", component="upf", image="", version=version,
                        replicas=replicas, cpu=0.5, memory_mb=256, ports=[2152], chart=CHART)  # fmt: skip


@pytest.fixture
def continuum(tmp_path) -> SimContinuum:
    c = SimContinuum(tmp_path / "sim.db")
    assert c.seed(topology()) is True
    return c


async def ready(wdm: SimWDM, cluster: str, workload: str, timeout: float = 5):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (status := await wdm.status(cluster, workload)).ready:
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.02)
    return status


async def test_a_release_keeps_its_revisions_and_rolls_back_to_the_previous_one(continuum):
    cluster = await edge_cluster(continuum)
    wdm = SimWDM(continuum)
    installed = await wdm.deploy("op/deploy", cluster, chart_spec())
    assert installed.revision == 1 and (await ready(wdm, cluster, "upf-1")).replicas == 2
    assert (await wdm.deploy("op/deploy", cluster, chart_spec())).revision == 1  # a retry: deduplicated

    assert (await wdm.scale("op/scale", cluster, "upf-1", 3)).revision == 2
    assert (await wdm.upgrade("op/up", cluster, "upf-1", "", "1.1.0")).revision == 3
    assert (await ready(wdm, cluster, "upf-1")).version == "1.1.0"

    continuum.set_never_ready("1.2.0")  # a chart version whose pods never become ready
    await wdm.upgrade("op/bad", cluster, "upf-1", "", "1.2.0")
    await asyncio.sleep(0.1)
    stuck = await wdm.status(cluster, "upf-1")
    assert not stuck.ready and stuck.serving == {"1.1.0": 3}  # the old revision keeps serving
    back = await wdm.upgrade("op/back", cluster, "upf-1", "", "1.1.0")  # the workflow's roll-back step
    assert back.revision == 5 and (await ready(wdm, cluster, "upf-1")).serving == {"1.1.0": 3}

    history = continuum.releases(cluster, "upf-1")
    assert [(r["revision"], r["version"], r["status"], r["description"]) for r in history] == [
        (1, "1.0.0", "superseded", "Install complete"),
        (2, "1.0.0", "superseded", "Upgrade complete"),
        (3, "1.1.0", "superseded", "Upgrade complete"),
        (4, "1.2.0", "superseded", "Upgrade complete"),
        (5, "1.1.0", "deployed", "Rollback to 3"),
    ]
    assert history[0]["values"] == {"mode": "edge", "replicaCount": 2, "image": {"tag": "1.0.0"}}
    assert history[4]["values"] == history[2]["values"] == release_values(CHART, 3, "1.1.0")

    await wdm.remove("op/remove", cluster, "upf-1")
    assert await wdm.status(cluster, "upf-1") is None and continuum.releases(cluster, "upf-1") == []


async def test_new_values_make_a_revision_and_going_back_to_them_is_a_rollback(continuum):
    cluster = await edge_cluster(continuum)
    wdm = SimWDM(continuum)
    await wdm.deploy("op/deploy", cluster, chart_spec())
    await wdm.scale("op/scale", cluster, "upf-1", 3)
    new = {"mode": "edge", "config": {"mtu": 9000}}
    assert (await wdm.upgrade("op/values", cluster, "upf-1", "", "1.0.0", new)).revision == 3
    assert (await wdm.upgrade("op/values", cluster, "upf-1", "", "1.0.0", new)).revision == 3  # a retry
    assert (await wdm.upgrade("op/same", cluster, "upf-1", "", "1.0.0", new)).revision == 3  # nothing new
    assert (await wdm.upgrade("op/none", cluster, "upf-1", "", "1.0.0")).revision == 3  # values kept
    assert (await wdm.upgrade("op/back", cluster, "upf-1", "", "1.0.0", CHART.values)).revision == 4
    history = continuum.releases(cluster, "upf-1")
    assert history[2]["values"] == {**new, "replicaCount": 3, "image": {"tag": "1.0.0"}}  # the replicas kept
    assert (history[3]["description"], history[3]["values"]) == ("Rollback to 2", history[1]["values"])


async def test_a_plain_workload_has_no_release(continuum):
    cluster = await edge_cluster(continuum)
    wdm = SimWDM(continuum)
    spec = chart_spec().model_copy(update={"chart": None, "image": "shop/web"})
    assert (await wdm.deploy("op/plain", cluster, spec)).revision is None
    assert continuum.releases(cluster, spec.id) == []


def service(**component) -> dict:
    return {"name": "s", "components": [{"name": "upf", **component}]}


@pytest.mark.parametrize(("component", "message"), [
    ({}, "chart: Value error, give `image` or `chart`"),
    ({"image": "x", "chart": {"ref": "oci://r.example/charts/upf"}, "version": "1.0.0"}, "not both"),
    ({"chart": {"ref": "oci://r.example/charts/upf"}}, "pins its chart version in `version`"),
    ({"chart": {"ref": "https://charts.example"}, "version": "1"}, "needs the chart's `name`"),
    ({"chart": {"ref": "ftp://charts.example", "name": "upf"}, "version": "1"}, "oci://, http:// or https://"),
    ({"chart": {"ref": "oci://u:p@r.example/c/upf"}, "version": "1"}, "no credentials"),
    ({"chart": {"ref": "oci://r.example/c/upf", "name": "smf"}, "version": "1"}, "names chart 'upf'"),
    ({"chart": {"ref": "oci://r.example/c/upf", "values_files": ["v.yaml"]}, "version": "1"}, "read by the client"),
    ({"chart": {"ref": "oci://r.example/c/upf", "replicas_path": "a..b"}, "version": "1"}, "replicas_path"),
])  # fmt: skip
def test_a_chart_component_is_validated_naming_the_field(component, message):
    with pytest.raises(ValidationError) as err:
        ServiceSpec.model_validate(service(**component))
    text = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in err.value.errors())
    assert message in text and "components.0.chart" in text, text


def test_a_chart_component_is_valid_with_its_version_pinned():
    spec = ServiceSpec.model_validate(service(chart={"ref": "oci://r.example/charts/upf"}, version="1.0.0"))
    comp = spec.components[0]
    assert comp.image == "" and comp.chart.chart_name == "upf"
    again = ServiceSpec.model_validate_json(spec.model_dump_json())  # as a history or the inventory reloads it
    assert again == spec


def test_values_files_are_read_relative_to_the_spec_and_merged_under_inline_values(tmp_path):
    (tmp_path / "base.yaml").write_text("a: 1\nnested: {x: 1, y: 1}\n")
    (tmp_path / "site.yaml").write_text("nested: {y: 2}\nb: 2\n")
    spec = service(chart={"ref": "oci://r.example/c/upf", "values_files": ["base.yaml", "site.yaml"],
                          "values": {"b": 3}}, version="1")  # fmt: skip
    inlined = inline_values_files(spec, tmp_path)
    assert inlined["components"][0]["chart"] == {"ref": "oci://r.example/c/upf",
                                                 "values": {"a": 1, "nested": {"x": 1, "y": 2}, "b": 3}}
    ServiceSpec.model_validate(inlined)
    with pytest.raises(ValueError, match=r"components\[0\].chart.values_files: missing.yaml: cannot read"):
        inline_values_files(service(chart={"ref": "oci://r.example/c/upf", "values_files": ["missing.yaml"]}),
                            tmp_path)


def test_values_on_the_command_line_are_files_merged_then_each_set(tmp_path):
    (tmp_path / "v.yaml").write_text("config: {mtu: 1450, dnn: campus}\n")
    assert values_of([], []) is None  # nothing given: the release's values stay
    assert values_of([tmp_path / "v.yaml"], ["config.mtu=9000", "agent.replicas=2", "debug=true", "name="]) == {
        "config": {"mtu": 9000, "dnn": "campus"}, "agent": {"replicas": 2}, "debug": True, "name": ""}
    with pytest.raises(ValueError, match="--set 'mtu': give PATH=VALUE"):
        values_of([], ["mtu"])
    with pytest.raises(ValueError, match="cannot read"):
        values_of([tmp_path / "missing.yaml"], [])
