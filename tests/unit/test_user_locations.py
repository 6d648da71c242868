"""Location reports to demand: a population scales the demand per user of the area's last
population report; the first is the base; the latest report of an area wins when they coalesce."""

import pytest

from legato.inventory.location_tables import UserLocationRow
from legato.model.user_areas import AreaReport
from legato.user_locations import MIN_DEMAND, coalesced, demand_of


def row(id_: int, area: str, demand: float, users: int | None = None) -> UserLocationRow:
    return UserLocationRow(id=id_, service_id="s", area=area, users=users, demand_rps=demand, reported_at=0)


def test_a_population_scales_the_demand_from_the_last_one():
    base = row(1, "milan", 40.0, users=1000)
    assert demand_of(AreaReport(area="milan", users=2500), 55.0, base) == pytest.approx(100.0)
    assert demand_of(AreaReport(area="milan", users=0), 55.0, base) == MIN_DEMAND  # all left: a trace stays
    assert demand_of(AreaReport(area="milan", users=2500), 55.0, None) == 55.0  # the first: the base
    assert demand_of(AreaReport(area="milan", users=10), 55.0, row(1, "milan", 40.0, users=0)) == 55.0
    assert demand_of(AreaReport(area="milan", demand_rps=7.5), 55.0, base) == 7.5


def test_the_latest_report_of_each_area_wins():
    pending = [row(3, "paris", 30.0), row(1, "paris", 10.0), row(2, "milan", 20.0)]
    assert coalesced(pending) == {"paris": 30.0, "milan": 20.0}


def test_a_report_gives_users_or_demand():
    with pytest.raises(ValueError, match="either `users` or `demand_rps`"):
        AreaReport(area="milan")
    with pytest.raises(ValueError, match="either `users` or `demand_rps`"):
        AreaReport(area="milan", users=3, demand_rps=1.0)
