"""Recurrences as Temporal reads them (legato/recurrence.py) and maintenance windows over them
(legato/maintenance.py): what an expression means, what is refused and why, daylight-saving days,
and when several owners' windows are open together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from legato.maintenance import NoCommonWindow, next_opening, owner, wait_for
from legato.model.schedules import ScheduleDefinition
from legato.recurrence import Calendar, RecurrenceError, occurrences, zone

PARIS = zone("Europe/Paris")


def times(cal: Calendar, since: datetime, n: int = 4, tz=PARIS) -> list[str]:
    return [f"{t:%Y-%m-%d %H:%M}" for t, _ in zip(occurrences(cal, tz, since), range(n), strict=False)]


def test_cron_fields_names_ranges_and_steps_read_as_temporal_reads_them():
    # weekdays at 22:00 and 22:30 in Paris (winter: UTC+1), from a Friday noon
    cal = Calendar.cron("0,30 22 * * mon-fri")
    assert times(cal, datetime(2027, 1, 8, 12, tzinfo=UTC)) == [
        "2027-01-08 21:00", "2027-01-08 21:30", "2027-01-11 21:00", "2027-01-11 21:30"]
    assert Calendar.cron("*/20 * * * *").fields["minute"] == {0, 20, 40}
    assert Calendar.cron("10/20 * * * *").fields["minute"] == {10, 30, 50}  # from 10 to the end
    assert Calendar.cron("0 0 * * 7").fields["day_of_week"] == {0, 7}  # 7 is Sunday too
    assert Calendar.cron("@daily") == Calendar.cron("0 0 * * *")
    # every field must match: the 13th only when it is a Friday (not Vixie cron's either/or)
    friday13 = Calendar.cron("0 12 13 * fri")
    assert times(friday13, datetime(2027, 1, 1, tzinfo=UTC), 1) == ["2027-08-13 10:00"]


@pytest.mark.parametrize(("expression", "why"), [
    ("61 2 * * *", "minute: 61 is out of range 0-59"),
    ("0 24 * * *", "hour: 24 is out of range 0-23"),
    ("0 22 * * funday", "day of week: unknown name 'funday'"),
    ("0 22 * * 5-1", "ends before it starts"),
    ("0 22 * *", "4 fields"),
    ("*/0 * * * *", "step must be at least 1"),
    ("@every 1h", "intervals (@every) are not supported"),
    ("CRON_TZ=Europe/Paris 0 22 * * *", "give the time zone in `time_zone`"),
    ("@nightly", "unknown shorthand"),
])
def test_expressions_temporal_would_not_read_are_refused_saying_which_part(expression, why):
    with pytest.raises(RecurrenceError, match=why.replace("(", r"\(").replace(")", r"\)")):
        Calendar.cron(expression)


def test_a_time_skipped_by_spring_forward_does_not_occur_and_a_repeated_one_occurs_once_at_its_second():
    cal = Calendar.cron("30 2 * * *")
    # 2027-03-28: Paris goes 02:00 → 03:00; 02:30 does not exist that day
    assert times(cal, datetime(2027, 3, 26, tzinfo=UTC), 3) == [
        "2027-03-26 01:30", "2027-03-27 01:30", "2027-03-29 00:30"]
    # 2027-10-31: Paris goes 03:00 → 02:00; 02:30 happens twice, the run is at the second (CET, 01:30 UTC)
    assert times(cal, datetime(2027, 10, 30, tzinfo=UTC), 3) == [
        "2027-10-30 00:30", "2027-10-31 01:30", "2027-11-01 01:30"]


def test_a_schedule_definition_names_the_field_at_fault():
    body = {"name": "night", "operation": {"kind": "scale", "component": "api", "scale": {"replicas": 1}}}
    for bad, field in [({"cron": "0 25 * * *"}, "cron"), ({"cron": "0 22 * * *", "time_zone": "Mars/Olympus"},
                                                          "time_zone"),
                       ({"calendar": [{"hour": "x"}]}, "calendar"), ({}, "cron")]:
        with pytest.raises(ValueError) as err:
            ScheduleDefinition.model_validate(body | bad)
        assert field in str(err.value), (bad, str(err.value))


TUESDAY_NIGHTS = [{"cron": "0 2 * * tue", "duration_minutes": 240, "time_zone": "Europe/Paris"}]
EARLY_MORNINGS = [{"cron": "0 4 * * *", "duration_minutes": 60, "time_zone": "UTC"}]


def test_a_window_is_open_from_each_of_its_times_for_its_duration():
    service = owner("service shop", TUESDAY_NIGHTS)
    monday = datetime(2027, 1, 4, 12, tzinfo=UTC)
    assert next_opening([service], monday) == (datetime(2027, 1, 5, 1, tzinfo=UTC), datetime(2027, 1, 5, 5, tzinfo=UTC))
    inside = datetime(2027, 1, 5, 3, tzinfo=UTC)
    assert wait_for([service], inside) is None
    assert wait_for([service], datetime(2027, 1, 5, 5, tzinfo=UTC)).opens_at == datetime(2027, 1, 12, 1, tzinfo=UTC)
    assert wait_for([], monday) is None  # nobody declared windows: no restriction


def test_several_owners_windows_open_together_only_when_all_are_open():
    service, site = owner("service shop", TUESDAY_NIGHTS), owner("site edge-1", EARLY_MORNINGS)
    opens, closes = next_opening([service, site], datetime(2027, 1, 4, 12, tzinfo=UTC))
    assert (opens, closes) == (datetime(2027, 1, 5, 4, tzinfo=UTC), datetime(2027, 1, 5, 5, tzinfo=UTC))
    wait = wait_for([service, site], datetime(2027, 1, 4, 12, tzinfo=UTC))
    assert wait.reason == "windows of service shop, site edge-1"
    never = owner("site far", [{"cron": "0 12 * * *", "duration_minutes": 30}])
    with pytest.raises(NoCommonWindow, match="never open together"):
        next_opening([service, never], datetime(2027, 1, 4, tzinfo=UTC))
    assert next_opening([service, site], opens + timedelta(minutes=10))[0] == opens + timedelta(minutes=10)
