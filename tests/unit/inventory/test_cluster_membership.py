"""A shared cluster's membership in the inventory, under overlapping calls: the MCM's answers to
calls for several services arrive in any order, and a deduplicated retry returns its first answer;
whichever comes last must not undo another's change (a node dropped from the record is a node its
holder's teardown never removes: the host stays held for ever)."""

from legato.inventory import Inventory
from legato.model import Cluster
from legato.topology_loader import load_topology

CLUSTER, SITE = "milan-cloud-k8s", "milan-cloud"
ORIGINAL = ["mil-c-h01", "mil-c-h02", "mil-c-h03"]


def inventory(tmp_path) -> Inventory:
    inv = Inventory(f"sqlite:///{tmp_path / 'inv.db'}")
    inv.load_topology(load_topology("deploy/topologies/default.yaml"))
    return inv


def members(inv: Inventory) -> tuple[list[str], list[str]]:
    """The cluster's host list and the hosts whose own row names the cluster: they must agree."""
    rows, _ = inv.hosts(0, 100_000)
    [cluster] = [c for c in inv.topology().sites[SITE].clusters if c.id == CLUSTER]
    return cluster.hosts, sorted(h.id for h in rows if h.cluster == CLUSTER)


def answer(hosts: list[str]) -> Cluster:
    return Cluster(id=CLUSTER, site=SITE, hosts=hosts, shared=True)


def test_an_older_answer_mirrored_last_keeps_the_nodes_another_call_added(tmp_path):
    inv = inventory(tmp_path)
    # a's add_nodes answered first (h04 joined), b's second (h04 and h05); b's is mirrored first.
    inv.cluster_changed(answer(ORIGINAL + ["mil-c-h04", "mil-c-h05"]), joined=["mil-c-h05"])
    inv.cluster_changed(answer(ORIGINAL + ["mil-c-h04"]), joined=["mil-c-h04"])
    listed, rows = members(inv)
    assert listed == rows == ORIGINAL + ["mil-c-h04", "mil-c-h05"]


def test_a_removal_mirrored_after_a_later_add_drops_only_its_own_nodes(tmp_path):
    inv = inventory(tmp_path)
    inv.cluster_changed(answer(ORIGINAL + ["mil-c-h04", "mil-c-h05"]), joined=["mil-c-h04", "mil-c-h05"])
    # b's remove of h05 answered, then a's add of h06; a's mirrored first.
    inv.cluster_changed(answer(ORIGINAL + ["mil-c-h04", "mil-c-h06"]), joined=["mil-c-h06"])
    inv.cluster_changed(answer(ORIGINAL + ["mil-c-h04"]), left=["mil-c-h05"])
    listed, rows = members(inv)
    assert listed == rows == ORIGINAL + ["mil-c-h04", "mil-c-h06"]


def test_a_repeated_answer_changes_nothing_more(tmp_path):
    inv = inventory(tmp_path)
    inv.cluster_changed(answer(ORIGINAL + ["mil-c-h04"]), joined=["mil-c-h04"])
    inv.cluster_changed(answer(ORIGINAL), left=["mil-c-h04"])
    inv.cluster_changed(answer(ORIGINAL + ["mil-c-h04"]), joined=[])  # a retry of an add whose host had no answer
    listed, rows = members(inv)
    assert listed == rows == ORIGINAL
