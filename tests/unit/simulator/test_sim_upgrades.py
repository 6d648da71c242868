"""The simulator's Kubernetes versions: an upgrade takes simulated time, during which the cluster
reports what it ran before, and a node being replaced takes no replica."""

from __future__ import annotations

import asyncio

import pytest

from legato.adapters.errors import InvalidRequest
from legato.model import Cluster
from legato.model.versions import canonical, upgrade_refusal
from legato.simulator import SimContinuum
from tests.unit.simulator.test_sim_continuum import edge_cluster, tiny_topology, workload


@pytest.fixture
def continuum(tmp_path) -> SimContinuum:
    topology = tiny_topology()
    topology.sites["cloud-b"].clusters = [Cluster(id="shared-b", hosts=["b1", "b2"], kubernetes_version="1.33")]
    c = SimContinuum(tmp_path / "sim.db")
    c.seed(topology)
    return c


def test_a_topology_version_is_where_the_sim_starts_and_read_back_as_the_cluster_reports_it(continuum):
    shared = continuum.cluster("shared-b")
    assert (shared.kubernetes_version, shared.node_versions) == ("v1.33.0", {"b1": "v1.33.0", "b2": "v1.33.0"})


async def test_an_upgrade_takes_its_time_and_a_node_being_replaced_takes_no_replica(continuum):
    await edge_cluster(continuum)  # a1, a2 on the default version
    continuum.set_upgrade_time(control_plane=0.4, node=0.4)
    assert continuum.cluster("edge-s1").kubernetes_version == "v1.34.4"
    await continuum.upgrade_control_plane("op-up", "edge-s1", "v1.35.4")
    assert continuum.cluster("edge-s1").kubernetes_version == "v1.34.4"  # the new control plane does not answer yet
    with pytest.raises(InvalidRequest, match="under way"):
        await continuum.upgrade_control_plane("op-up-other", "edge-s1", "v1.35.3")
    await asyncio.sleep(0.45)
    assert continuum.cluster("edge-s1").kubernetes_version == "v1.35.4"

    await continuum.drain_nodes("op-drain", "edge-s1", ["a1"], partial=False)
    await continuum.upgrade_nodes("op-nodes", "edge-s1", ["a1"], "v1.35.4")
    assert continuum.cluster("edge-s1").node_versions == {"a1": "v1.34.4", "a2": "v1.34.4"}
    await continuum.deploy("op-deploy", "edge-s1", workload(replicas=2, cpu=1))
    assert (await continuum.workload_status("edge-s1", "web-1")).nodes == {"a2": 2}  # a1 is away being replaced
    await asyncio.sleep(0.45)
    assert continuum.cluster("edge-s1").node_versions == {"a1": "v1.35.4", "a2": "v1.34.4"}
    await continuum.scale("op-scale", "edge-s1", "web-1", 6)
    assert (await continuum.workload_status("edge-s1", "web-1")).nodes["a1"] >= 1  # back, and schedulable


def test_the_one_allowed_step():
    offered = ["v1.34.3", "v1.34.4", "v1.35.0", "v1.35.4", "v1.36.0"]
    assert upgrade_refusal("v1.34.3", "v1.34.4", offered) is None
    assert upgrade_refusal("v1.34.4", "1.35.4", offered) is None
    assert "skips a minor" in upgrade_refusal("v1.34.4", "v1.36.0", offered)
    assert "downgrades" in upgrade_refusal("v1.35.0", "v1.34.4", offered)
    assert "not offered" in upgrade_refusal("v1.34.4", "v1.35.9", offered)
    assert "already runs" in upgrade_refusal("v1.34.4", "v1.34.4", offered)
    assert "not a Kubernetes version" in upgrade_refusal("v1.34.4", "latest", offered)
    assert canonical("1.31") == "v1.31.0"
