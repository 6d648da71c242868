"""User areas changed on a running service: demand may change; what the user QoS connections were
made from may not (yet), and the refusal says which area and field, and why."""

from legato.model import ServiceSpec
from legato.model.service import UserArea
from legato.model.user_areas import connection_changes, with_demand

SPEC = ServiceSpec.model_validate({
    "name": "s", "components": [{"name": "web", "image": "r/web"}, {"name": "api", "image": "r/api"}],
    "user_areas": [{"area": "paris-center", "demand_rps": 40}, {"area": "milan", "component": "api"}]})


def areas(*changes: dict) -> list[UserArea]:
    return [a.model_copy(update=c) for a, c in zip(SPEC.user_areas, changes, strict=True)]


def test_demand_may_change_and_the_rest_stays():
    assert connection_changes(SPEC, areas({"demand_rps": 400}, {"demand_rps": 1})) == []
    new = with_demand(SPEC, {"milan": 90})
    assert [(a.area, a.demand_rps, a.component) for a in new] == [("paris-center", 40, None), ("milan", 90, "api")]


def test_what_a_user_qos_was_made_from_cannot_change_yet():
    (where, why), = connection_changes(SPEC, areas({}, {"max_latency_ms": 20}))
    assert where == (1, "max_latency_ms") and "milan's max_latency_ms is 50" in why
    (where, why), = connection_changes(SPEC, areas({"component": "api"}, {}))
    assert where == (0, "component") and "entry component is web" in why
    assert connection_changes(SPEC, areas({"component": "web"}, {})) == []  # the default, named: the same


def test_areas_added_removed_or_reordered_are_refused_with_the_list_that_holds():
    for new in (SPEC.user_areas[:1], [*SPEC.user_areas, UserArea(area="rome")], SPEC.user_areas[::-1]):
        (where, why), = connection_changes(SPEC, new)
        assert where == () and "['paris-center', 'milan']" in why and "only `demand_rps` may change" in why
