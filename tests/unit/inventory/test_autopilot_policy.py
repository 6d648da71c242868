"""The operator's autopilot policy in the inventory: the defaults until set, then what was set,
replaced whole, with who set it; kept across a reopening of the database."""

from legato.inventory import Inventory
from legato.model.intents import AutopilotPolicy


def test_the_policy_is_the_defaults_until_set_then_replaced_whole(tmp_path):
    url = f"sqlite:///{tmp_path / 'inv.db'}"
    inv = Inventory(url)
    first = inv.autopilot_policy()
    assert first.updated_by is None and AutopilotPolicy(**first.model_dump(exclude={"updated_by", "updated_at"})) \
        == AutopilotPolicy()

    inv.autopilot_policy_set(AutopilotPolicy(approval="auto", max_replicas=4, allowed_sites=["paris-edge-1"]), "ops")
    inv.autopilot_policy_set(AutopilotPolicy(max_replicas=12, cooldown_seconds=60), "operator")
    again = Inventory(url).autopilot_policy()
    assert again.updated_by == "operator" and again.updated_at is not None
    assert (again.max_replicas, again.cooldown_seconds) == (12, 60)
    assert again.approval == "approve" and again.allowed_sites is None  # not merged with the first: replaced
