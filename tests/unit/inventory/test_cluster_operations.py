"""Who operates a cluster, in the inventory: one upgrade alone, scalings side by side, and a row
whose workflow is over (named stale by the caller, who asked Temporal) in nobody's way."""

from legato.inventory import Inventory

C = "paris-edge-k8s"


def test_an_upgrade_is_alone_and_scalings_share(tmp_path):
    inv = Inventory(f"sqlite:///{tmp_path / 'inv.db'}")
    assert inv.join_cluster(C, "scale-a") is None and inv.join_cluster(C, "scale-b") is None
    assert inv.join_cluster(C, "scale-a") is None  # again: still one row
    assert inv.cluster_scalings(C) == ["scale-a", "scale-b"]
    assert inv.claim_cluster(C, "upgrade-1", "upgrade") == "scale-a"  # refused while a scaling runs
    assert inv.cluster_operation(C) is None

    inv.leave_cluster(C, "scale-a")
    inv.leave_cluster(C, "scale-a")  # idempotent
    assert inv.claim_cluster(C, "upgrade-1", "upgrade") == "scale-b"
    inv.leave_cluster(C, "scale-b")
    assert inv.claim_cluster(C, "upgrade-1", "upgrade", "to v1.35.4") is None
    assert inv.claim_cluster(C, "upgrade-1", "upgrade", "to v1.35.4") is None  # its own again
    assert inv.claim_cluster(C, "upgrade-2", "upgrade") == "upgrade-1"
    assert inv.join_cluster(C, "scale-c") == "upgrade-1"  # waits: nothing written
    assert inv.cluster_scalings(C) == []

    inv.release_cluster(C, "upgrade-2")  # not its holder: nothing happens
    assert inv.cluster_operation(C).workflow_id == "upgrade-1"
    inv.release_cluster(C, "upgrade-1")
    assert inv.join_cluster(C, "scale-c") is None and inv.cluster_scalings(C) == ["scale-c"]


def test_rows_of_workflows_that_are_over_are_dropped_when_named_stale(tmp_path):
    inv = Inventory(f"sqlite:///{tmp_path / 'inv.db'}")
    inv.join_cluster(C, "scale-terminated")
    assert inv.claim_cluster(C, "upgrade-1", "upgrade", stale=frozenset({"scale-terminated"})) is None
    assert inv.cluster_scalings(C) == []
    assert inv.join_cluster(C, "scale-d", stale=frozenset({"upgrade-1"})) is None  # the upgrade was terminated
    assert inv.cluster_operation(C) is None and inv.cluster_scalings(C) == ["scale-d"]
