"""The clusterapi MCM on the test bed: the real Cluster API managers build workload clusters on the
hosts Legato hands them (through the test bed's kwok infrastructure provider), the Kubernetes WDM
deploys onto them with the kubeconfig CAPI wrote, machines come and go with the MachineDeployment,
and a deleted cluster leaves no CAPI object and no host held."""

from __future__ import annotations

import pytest

from legato.adapters.mcm.clusterapi import CLUSTER_LABEL, ClusterAPIMCM
from legato.adapters.wdm.kubernetes import KubernetesWDM
from legato.model.backends import SiteBackends
from tests.contract.worlds import settled, site, until, workload
from tests.real.capi_testbed import ManagementCluster, management_cluster, site_config

HOSTS = ["m1", "m2", "m3"]
SITE = "edge-capi"
KINDS = [("clusters", "cluster.x-k8s.io", "v1beta2"), ("machines", "cluster.x-k8s.io", "v1beta2"),
         ("machinedeployments", "cluster.x-k8s.io", "v1beta2"), ("machinesets", "cluster.x-k8s.io", "v1beta2"),
         ("kubeadmcontrolplanes", "controlplane.cluster.x-k8s.io", "v1beta2"),
         ("kubeadmconfigs", "bootstrap.cluster.x-k8s.io", "v1beta2"),
         ("kubeadmconfigtemplates", "bootstrap.cluster.x-k8s.io", "v1beta2"),
         ("kwokclusters", "infrastructure.legato.test", "v1alpha1"),
         ("kwokmachines", "infrastructure.legato.test", "v1alpha1"),
         ("kwokmachinetemplates", "infrastructure.legato.test", "v1alpha1")]  # fmt: skip


@pytest.fixture(scope="module")
def capi(kube_bin, tmp_path_factory):
    here = site(SITE, HOSTS)
    mc = management_cluster(kube_bin, tmp_path_factory.mktemp("capi"), here.hosts)
    yield mc
    mc.stop()


@pytest.fixture
def mcm(capi: ManagementCluster) -> ClusterAPIMCM:
    backend = SiteBackends(mcm="clusterapi", wdm="kubernetes", clusterapi=site_config(capi.kubeconfig))
    return ClusterAPIMCM(site(SITE, HOSTS, backend=backend))


def hosts_of(capi: ManagementCluster) -> dict[str, tuple[str | None, str | None]]:
    """Each KwokHost: the cluster Legato labelled it for, the machine that claimed it."""
    return {h["metadata"]["name"]: (h["metadata"].get("labels", {}).get(CLUSTER_LABEL),
                                    (h.get("spec", {}).get("consumerRef") or {}).get("name"))
            for h in capi.objects("kwokhosts", "infrastructure.legato.test", "v1alpha1")}  # fmt: skip


def worker_nodes(capi: ManagementCluster, cluster_id: str) -> list[str]:
    machines = [m for m in capi.objects("machines") if m["metadata"]["labels"].get("cluster.x-k8s.io/cluster-name")
                == cluster_id and "cluster.x-k8s.io/control-plane" not in m["metadata"]["labels"]]  # fmt: skip
    return sorted(m.get("status", {}).get("nodeRef", {}).get("name", "") for m in machines)


async def test_a_cluster_built_grown_shrunk_and_deleted_through_cluster_api(capi: ManagementCluster,
                                                                             mcm: ClusterAPIMCM):  # fmt: skip
    try:
        await _lifecycle(capi, mcm)
    except BaseException:
        print(capi.logs())
        raise


async def _lifecycle(capi: ManagementCluster, mcm: ClusterAPIMCM) -> None:
    m1, m2, m3 = HOSTS
    cluster = await mcm.create_cluster("op-create", "capi-a", SITE, [m1], "svc-a")
    assert (cluster.id, cluster.site, cluster.hosts, cluster.shared, cluster.service_id) == (
        "capi-a", SITE, [m1], False, "svc-a")  # fmt: skip
    assert cluster.kubernetes_version == "v1.34.4"  # read from the workload cluster's /version
    # The CAPI objects show the host: a worker Machine whose node is m1, on the KwokHost Legato labelled.
    assert worker_nodes(capi, "capi-a") == [m1]
    labelled, claimed = hosts_of(capi)[m1]
    assert labelled == "capi-a" and claimed
    assert hosts_of(capi)[m2] == (None, None)
    (md,) = [d for d in capi.objects("machinedeployments") if d["metadata"]["name"] == "capi-a-workers"]
    assert md["spec"]["replicas"] == 1
    assert await mcm.create_cluster("op-create", "capi-a", SITE, [m1], "svc-a") == cluster  # the retry finds it

    # The WDM deploys onto it through the kubeconfig CAPI wrote.
    wdm = KubernetesWDM(mcm)
    spec = workload("web", 1, cpu=0.5)
    await wdm.deploy("op-deploy", "capi-a", spec)
    web = await until(lambda: settled(wdm, "capi-a", spec.id), timeout=90)
    assert web.nodes == {m1: 1}

    # ScaleCluster's MCM calls: a host joins (replicas up), then m1 goes make-before-break.
    grown = await mcm.add_nodes("op-add", "capi-a", [m2])
    assert grown.hosts == [m1, m2] and worker_nodes(capi, "capi-a") == [m1, m2]
    await mcm.drain_nodes("op-drain", "capi-a", [m1], partial=False)
    await until(lambda: _empty(mcm, "capi-a", m1), timeout=90)
    after = await mcm.remove_nodes("op-remove", "capi-a", [m1])
    assert after.hosts == [m2] and worker_nodes(capi, "capi-a") == [m2]
    assert hosts_of(capi)[m1] == (None, None)  # freed: unlabelled, no machine holds it
    moved = await until(lambda: settled(wdm, "capi-a", spec.id), timeout=90)
    assert moved.nodes == {m2: 1}

    # Delete: every CAPI object goes, and every host is free again.
    await mcm.delete_cluster("op-delete", "capi-a")
    assert await mcm.get_cluster("capi-a") is None
    for plural, group, version in KINDS:
        assert capi.objects(plural, group, version) == [], plural
    assert set(hosts_of(capi).values()) == {(None, None)}
    await mcm.delete_cluster("op-delete-again", "capi-a")  # idempotent
    assert m3 not in grown.hosts


async def _empty(mcm: ClusterAPIMCM, cluster_id: str, host: str) -> bool:
    return (await mcm.busy_nodes(cluster_id, [host]))[host] == 0
