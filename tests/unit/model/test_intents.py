"""The intent database's rules: SLOs checked against the rest of the spec (what a client is told,
field by field), the areas each applies to, and the effective policy of a service (never
looser than the operator's)."""

import pytest
from pydantic import ValidationError

from legato.inventory.autopilot_policy import AutopilotPolicyView
from legato.model import ServiceSpec
from legato.model.intents import (
    SLO,
    AutopilotPolicy,
    ServiceAutopilot,
    effective_policy,
    latency_areas,
    served_areas,
)


def shop(slos: list[dict] | None = None, **extra) -> dict:
    """frontend -> api -> db, plus a cache nobody's users reach; milan enters at frontend, turin at
    api (listed twice, the tighter 30 ms counts)."""
    return {
        "name": "shop",
        "components": [{"name": n, "image": f"example/{n}"} for n in ("frontend", "api", "db", "cache")],
        "links": [{"from": "frontend", "to": "api"}, {"from": "api", "to": "db"}],
        "user_areas": [{"area": "milan", "component": "frontend", "max_latency_ms": 20},
                       {"area": "turin", "component": "api", "max_latency_ms": 40},
                       {"area": "turin", "component": "api", "max_latency_ms": 30}],
        "slos": slos or [],
        **extra,
    }


def refusal(slos: list[dict]) -> str:
    with pytest.raises(ValidationError) as err:
        ServiceSpec.model_validate(shop(slos))
    return str(err.value)


def test_a_spec_with_slos_is_accepted_and_each_applies_where_it_is_measured():
    spec = ServiceSpec.model_validate(shop([
        {"component": "frontend", "p95_latency_ms": 18, "max_error_rate": 0.01},
        {"component": "api", "p95_latency_ms": 25, "utilisation": [0.3, 0.75], "availability": 0.999},
        {"component": "api", "area": "turin", "p95_latency_ms": 20},  # turin's own beside the component's
        {"component": "db", "area": "milan", "max_error_rate": 0.001},  # milan reaches db through api
    ]))
    assert served_areas(spec) == {"frontend": {"milan"}, "api": {"milan", "turin"}, "db": {"milan", "turin"},
                                  "cache": set()}
    # a latency objective applies where the component is the entry: api's 25 to turin only
    assert [latency_areas(spec, s) for s in spec.slos] == [{"milan": 20}, {"turin": 30}, {"turin": 30}, {}]
    assert ServiceSpec.model_validate(shop()).slos == []  # none: a spec as before


@pytest.mark.parametrize(("slo", "message"), [
    ({"component": "web", "max_error_rate": 0.1}, "slos[0].component: unknown component 'web'"),
    ({"component": "api", "area": "rome", "max_error_rate": 0.1},
     "slos[0].area: 'rome' is not a user area of this service (its areas: ['milan', 'turin'])"),
    ({"component": "cache", "area": "milan", "max_error_rate": 0.1},
     "slos[0].area: component 'cache' does not serve area 'milan'"),
    ({"component": "api", "area": "turin", "utilisation": [0.2, 0.8]},
     "slos[0].area: utilisation is the component's own"),
    ({"component": "db", "p95_latency_ms": 10},
     "slos[0].p95_latency_ms: user latency is measured where users enter, and 'db' is the entry of no user area"),
    ({"component": "api", "area": "milan", "p95_latency_ms": 10},
     "'api' is not the entry of area 'milan' (its entry: frontend)"),
    ({"component": "frontend", "p95_latency_ms": 25},
     "slos[0].p95_latency_ms: 25 ms is looser than area 'milan' asks (max_latency_ms 20): give at most 20"),
    ({"component": "api", "p95_latency_ms": 35}, "looser than area 'turin' asks (max_latency_ms 30)"),
    ({"component": "api"}, "an SLO sets at least one objective"),
    ({"component": "api", "utilisation": [0.8, 0.3]}, "0 < low < high <= 1, got [0.8, 0.3]"),
    ({"component": "api", "utilisation": [0, 0.5]}, "0 < low < high <= 1"),
    ({"component": "api", "utilisation": [0.5, 1.1]}, "0 < low < high <= 1"),
    ({"component": "api", "max_error_rate": 1.5}, "less than or equal to 1"),
    ({"component": "api", "availability": 1}, "less than 1"),
    ({"component": "api", "p95_latency": 10}, "Extra inputs are not permitted"),
])
def test_a_bad_slo_is_refused_naming_its_field(slo, message):
    assert message in refusal([slo])


def test_an_objective_set_twice_for_the_same_place_is_refused_but_an_area_may_refine_the_component():
    assert "slos[1].max_error_rate: already set for component 'api' by slos[0]" in refusal(
        [{"component": "api", "max_error_rate": 0.1}, {"component": "api", "max_error_rate": 0.2}])
    assert "in area 'turin' by slos[0]" in refusal(
        [{"component": "api", "area": "turin", "p95_latency_ms": 20},
         {"component": "api", "area": "turin", "p95_latency_ms": 25}])
    ServiceSpec.model_validate(shop([{"component": "api", "p95_latency_ms": 30},
                                     {"component": "api", "area": "turin", "p95_latency_ms": 20}]))


def test_every_error_is_told_at_once():
    text = refusal([{"component": "web", "max_error_rate": 0.1}, {"component": "db", "p95_latency_ms": 10}])
    assert "slos[0].component" in text and "slos[1].p95_latency_ms" in text


def test_the_effective_policy_is_the_stricter_of_the_operator_and_the_service():
    operator = AutopilotPolicy(approval="auto", max_replicas=8, max_cost_per_hour=20, allowed_sites=["b", "a", "b"],
                               actions=["heal", "scale", "heal"])
    assert operator.actions == ["scale", "heal"] and operator.allowed_sites == ["b", "a"]
    plain = ServiceSpec.model_validate(shop())
    same = effective_policy(operator, plain)
    assert same.model_dump(exclude={"stricter_by_service"}) == operator.model_dump()
    assert same.stricter_by_service == []

    strict = ServiceSpec.model_validate(shop(autopilot={"enabled": False, "approval": "approve"},
                                             policy={"max_cost_per_hour": 5}))
    tight = effective_policy(operator, strict)
    assert (tight.enabled, tight.approval, tight.max_cost_per_hour) == (False, "approve", 5)
    assert tight.stricter_by_service == ["enabled", "approval", "max_cost_per_hour"]
    assert not tight.allows("scale") and operator.allows("scale") and not operator.allows("move")
    assert (tight.max_replicas, tight.allowed_sites, tight.actions) == (8, ["b", "a"], ["scale", "heal"])


def test_a_service_never_loosens_the_operator():
    operator = AutopilotPolicy(enabled=False, approval="approve", max_cost_per_hour=10)
    loose = ServiceSpec.model_validate(shop(autopilot={"enabled": True, "approval": "auto"},
                                            policy={"max_cost_per_hour": 50}))
    got = effective_policy(operator, loose)
    assert (got.enabled, got.approval, got.max_cost_per_hour) == (False, "approve", 10)
    assert got.stricter_by_service == []
    stored = AutopilotPolicyView(approval="auto", updated_by="operator")  # the policy as the inventory keeps it
    assert effective_policy(stored, loose).approval == "auto"
    # the operator sets no cost bound: the service's own is the bound
    assert effective_policy(AutopilotPolicy(), loose).max_cost_per_hour == 50
    assert effective_policy(AutopilotPolicy(), ServiceSpec.model_validate(shop())).max_cost_per_hour is None


@pytest.mark.parametrize(("fields", "message"), [
    ({"approval": "sometimes"}, "'auto' or 'approve'"),
    ({"actions": ["scale", "teleport"]}, "'scale', 'move', 'grow-cluster' or 'heal'"),
    ({"max_replicas": 0}, "greater than or equal to 1"),
    ({"max_cost_per_hour": 0}, "greater than 0"),
    ({"cooldown_seconds": -1}, "greater than or equal to 0"),
    ({"max_actions_per_hour": 0}, "greater than or equal to 1"),
    ({"confirm_seconds": 0}, "greater than or equal to 1"),
    ({"allowed_sites": [" "]}, "a site id is not empty"),
    ({"max_replica": 3}, "Extra inputs are not permitted"),
])
def test_a_bad_policy_is_refused(fields, message):
    with pytest.raises(ValidationError) as err:
        AutopilotPolicy(**fields)
    assert message in str(err.value)


def test_the_defaults_propose_and_act_on_nothing_unasked():
    policy = AutopilotPolicy()
    assert policy.enabled and policy.approval == "approve" and policy.allowed_sites is None
    assert ServiceAutopilot() == ServiceAutopilot(enabled=True, approval="auto")
    assert SLO(component="api", max_error_rate=0).objectives() == ["max_error_rate"]
