"""The pure parts of the Helm driver: how many pods a rendered release runs at once (the quota's
sizing), and what readiness and serving make of its Jobs."""

from __future__ import annotations

from types import SimpleNamespace

import yaml

from legato.adapters.wdm.helm import Release, pods_needed, release_status, workload_done
from legato.model.charts import ChartSource


def manifest(*docs: dict) -> str:
    return yaml.safe_dump_all(list(docs))


DEPLOYMENT = {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 3}}
DAEMONSET = {"kind": "DaemonSet", "metadata": {"name": "agent"},
             "spec": {"template": {"spec": {"nodeSelector": {"role": "edge"}}}}}
JOB = {"kind": "Job", "metadata": {"name": "migrate"}, "spec": {"parallelism": 2}}
NODES = [{"role": "edge", "zone": "a"}, {"role": "edge"}, {"role": "core"}]


def test_a_daemonset_counts_a_pod_on_every_node_it_admits_and_a_job_its_parallelism():
    assert pods_needed(manifest(DEPLOYMENT)) == 4  # replicas and one surge pod
    assert pods_needed(manifest(DAEMONSET), NODES) == 2  # the two edge nodes, no surge by default
    surging = {**DAEMONSET, "spec": {**DAEMONSET["spec"], "updateStrategy": {"rollingUpdate": {"maxSurge": "50%"}}}}
    assert pods_needed(manifest(surging), NODES) == 3
    everywhere = {"kind": "DaemonSet", "metadata": {"name": "x"}, "spec": {}}
    assert pods_needed(manifest(everywhere), NODES) == 3
    assert pods_needed(manifest(DEPLOYMENT, DAEMONSET, JOB), NODES) == 4 + 2 + 2
    assert pods_needed(manifest({"kind": "Job", "metadata": {"name": "j"}, "spec": {}})) == 1


def _job(complete: bool):
    cond = [SimpleNamespace(type="Complete", status="True")] if complete else []
    return SimpleNamespace(metadata=SimpleNamespace(generation=1), status=SimpleNamespace(conditions=cond))


def test_a_release_is_ready_once_its_jobs_completed_and_they_serve_nothing():
    assert not workload_done("Job", _job(False))
    assert workload_done("Job", _job(True))
    assert workload_done("Job", None)  # deleted once finished (its TTL)
    current = Release(name="r", revision=1, status="deployed", chart_name="c", version="1.0.0",
                      config={"replicaCount": 1}, manifest="", description="")
    source = ChartSource(ref="https://charts.example", name="c")
    waiting = release_status("k", "w", current, source, {}, [("Job", _job(False), [])], None)
    assert not waiting.ready and waiting.serving == {"1.0.0": 1}
    done = release_status("k", "w", current, source, {}, [("Job", _job(True), [])], None)
    assert done.ready
