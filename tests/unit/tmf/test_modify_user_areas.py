"""A TMF `modify` item changing the `userAreas` characteristic: an `update` of the service's user
areas (its demand), undone by a cancellation; what cannot change on a running service is refused
naming the characteristic."""

import pytest

from legato.model import ServiceSpec
from legato.tmf.characteristics import InvalidCharacteristic, inverse, operations

SPEC = ServiceSpec.model_validate({"name": "s", "components": [{"name": "web", "image": "r/web"}],
                                   "user_areas": [{"area": "paris-center", "demand_rps": 40}]})
WHERE = "serviceOrderItem[0].service.serviceCharacteristic"


def user_areas(**change) -> list[dict]:
    return [{"name": "userAreas", "value": [{**SPEC.user_areas[0].model_dump(mode="json"), **change}]}]


def test_a_new_demand_is_an_update_and_its_inverse_restores_the_old_one():
    (op,) = operations(SPEC, {"web": "paris-cloud"}, user_areas(demand_rps=120), WHERE, "order-1/item-1")
    assert op.kind == "update" and op.update.user_areas[0].demand_rps == 120
    assert op.update.request_id == "order-1/item-1/update"
    undo = inverse(op, SPEC, {"web": "paris-cloud"})
    assert undo.update.user_areas[0].demand_rps == 40


def test_the_same_areas_are_no_operation():
    assert operations(SPEC, {"web": "paris-cloud"}, user_areas(), WHERE, "o/i") == []


def test_an_area_added_or_a_connection_changed_is_refused_naming_the_characteristic():
    with pytest.raises(InvalidCharacteristic) as err:
        operations(SPEC, {}, user_areas(qos_profile="low-latency"), WHERE, "o/i")
    assert err.value.field == f"{WHERE}[0] (userAreas).value" and "qos_profile" in err.value.message
    added = [{"name": "userAreas", "value": [SPEC.user_areas[0].model_dump(mode="json"), {"area": "milan"}]}]
    with pytest.raises(InvalidCharacteristic, match="not built yet"):
        operations(SPEC, {}, added, WHERE, "o/i")
    with pytest.raises(InvalidCharacteristic, match="a list of user areas"):
        operations(SPEC, {}, [{"name": "userAreas", "value": "paris"}], WHERE, "o/i")
