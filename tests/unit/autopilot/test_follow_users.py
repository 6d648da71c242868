"""Following the users: an entry component moves to the centre of demand when most of its
requests come from an area far away and their latency breaches or is about to — not for a
minority, not while latency is comfortable, not for a trifling gain, never to where it is."""

from legato.autopilot.plan import Action, Bounds, Geography, Held, Objectives, Sample, plan, toward_demand

NOW = 10_000.0
OBJ = Objectives(util_low=0.3, util_high=0.75, p95_ms={"paris": 40.0})
# paris's users are 5 ms from the paris site, 30 from milan; milan's the other way round; rome is
# 25 ms from milan and 40 from paris
GEO = Geography("paris-dc", {
    "paris": {"paris-dc": 5.0, "milan-dc": 30.0, "rome-dc": 40.0},
    "milan": {"paris-dc": 30.0, "milan-dc": 5.0, "rome-dc": 20.0},
    "rome": {"paris-dc": 40.0, "milan-dc": 25.0, "rome-dc": 5.0},
})


def reading(area_rps: dict[str, float], p95: dict[str, float], rate: float = 50.0) -> list[Sample]:
    """Three readings 60 s apart, at 50% utilisation (load is not the cause)."""
    return [Sample(at=NOW - 60 * (2 - i), replicas=2, request_rate=rate, utilisation=0.5, p95_ms=p95,
                   area_rps=area_rps) for i in range(3)]


def test_most_users_moved_to_a_far_city_move_the_entry_component_to_its_site():
    shifted = reading({"paris": 10, "milan": 40}, {"paris": 12, "milan": 45})
    action = plan("web", shifted, OBJ, Bounds(), [], NOW, horizon=3, geography=GEO)
    assert isinstance(action, Action) and action.kind == "move" and action.area == "milan"
    assert action.data["toward_sites"][0] == "milan-dc"  # (10x30 + 40x5)/50 = 10 ms, against 26 at paris
    assert action.breach == "latency:milan" and action.data["objective_ms"] == 40.0  # moved users keep theirs
    assert action.data["share"] == 0.8 and "80% of the requests now come from milan" in action.reason


def test_the_move_comes_before_the_breach_when_latency_is_about_to_breach():
    near = reading({"paris": 10, "milan": 40}, {"milan": 34.0})  # 85% of 40 ms
    action = toward_demand("web", near[-1], OBJ, GEO)
    assert action is not None and "is about to breach" in action.reason
    comfortable = reading({"paris": 10, "milan": 40}, {"milan": 20.0})  # half the objective: stay
    assert toward_demand("web", comfortable[-1], OBJ, GEO) is None
    assert plan("web", comfortable, OBJ, Bounds(), [], NOW, horizon=3, geography=GEO) is None


def test_a_minority_far_away_does_not_move_the_component_away_from_the_majority():
    split = reading({"paris": 30, "milan": 20}, {"paris": 12, "milan": 45})
    assert toward_demand("web", split[-1], OBJ, GEO) is None
    balanced = reading({"paris": 24, "milan": 26}, {"milan": 45})  # milan leads, but the centre is no better
    assert toward_demand("web", balanced[-1], OBJ, GEO) is None


def test_demand_spread_over_two_far_cities_goes_to_the_site_between_them():
    spread = reading({"milan": 30, "rome": 20}, {"milan": 45, "rome": 50})
    action = toward_demand("web", spread[-1], OBJ, GEO)
    # milan-dc: (30x5 + 20x25)/50 = 13 ms; rome-dc: (30x20 + 20x5)/50 = 14 ms; paris-dc: 34 ms
    assert action.data["toward_sites"] == ["milan-dc", "rome-dc"]


def test_a_latency_spent_being_served_is_not_answered_by_a_move():
    slow = reading({"paris": 10, "milan": 40}, {"milan": 110.0})  # 30 ms of network, 80 being served
    assert toward_demand("web", slow[-1], OBJ, GEO) is None  # 110 - 30 + 5 = 85 ms at milan-dc: no cure


def test_already_at_the_centre_or_without_objectives_nothing_moves():
    at_milan = Geography("milan-dc", GEO.area_ms)
    assert toward_demand("web", reading({"milan": 40}, {"milan": 45})[-1], OBJ, at_milan) is None
    assert toward_demand("web", reading({"milan": 40}, {"milan": 45})[-1], Objectives(), GEO) is None


def test_the_few_users_left_behind_do_not_pull_the_component_back():
    at_milan = Geography("milan-dc", GEO.area_ms)
    after = reading({"paris": 4, "milan": 36}, {"paris": 45.0, "milan": 10.0})  # paris breaches, for 10%
    held = plan("web", after, OBJ, Bounds(), [], NOW, horizon=3, geography=at_milan)
    assert isinstance(held, Held) and "only 10% of the requests come from there" in held.reason
    without_rates = reading({}, {"paris": 45.0})  # no per-area rates: the breach rule moves as before
    assert plan("web", without_rates, OBJ, Bounds(), [], NOW, horizon=3, geography=at_milan).kind == "move"


def test_moves_not_allowed_are_held_with_the_reason():
    shifted = reading({"paris": 10, "milan": 40}, {"milan": 45})
    held = plan("web", shifted, OBJ, Bounds(move=False), [], NOW, horizon=3, geography=GEO)
    assert isinstance(held, Held) and "milan" in held.reason and "moves are not allowed" in held.reason
