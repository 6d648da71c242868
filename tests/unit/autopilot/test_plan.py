"""The autopilot's plan for one component: ahead of a rise, never within its cooldown, never a
flap, towards the users when distance is the cause, and learning from what did not help."""

from legato.autopilot.plan import CALM, Action, Bounds, Held, Objectives, Past, Sample, plan

CAP = 50.0  # req/s one replica serves at full utilisation
NOW = 10_000.0


def samples(rates: list[float], replicas: int = 2, p95: dict[str, float] | None = None,
            errors: float = 0.0) -> list[Sample]:
    """Evenly spaced readings (60 s apart, the last at NOW) of a component serving `rates`."""
    return [Sample(at=NOW - 60 * (len(rates) - 1 - i), replicas=replicas, request_rate=r,
                   utilisation=r / (CAP * replicas), error_rate=errors, p95_ms=p95 or {})
            for i, r in enumerate(rates)]


OBJ = Objectives(util_low=0.3, util_high=0.75, p95_ms={"paris": 40.0})


def test_a_rise_is_met_before_it_breaches():
    rising = samples([30, 36, 42, 48, 54, 60, 66])  # 66 req/s on 2 replicas: 66%, in the band
    action = plan("api", rising, OBJ, Bounds(), [], NOW, horizon=5)
    assert isinstance(action, Action) and action.kind == "scale" and action.replicas > 2
    assert "predicted" in action.reason and action.data["forecast_upper"] > 66


def test_a_breach_now_scales_to_the_middle_of_the_band_within_bounds():
    hot = samples([90] * 8)  # 90% on 2 replicas
    action = plan("api", hot, OBJ, Bounds(max_replicas=10), [], NOW, horizon=3)
    assert action.kind == "scale" and action.replicas == 4  # 90 / (50 * 0.525) = 3.4 -> 4
    capped = plan("api", hot, OBJ, Bounds(max_replicas=3), [], NOW, horizon=3)
    assert capped.replicas == 3
    at_max = plan("api", samples([130] * 8, replicas=3), OBJ, Bounds(max_replicas=3), [], NOW, horizon=3)  # 87%
    assert isinstance(at_max, Held) and "the most allowed" in at_max.reason


def test_nothing_within_the_cooldown_or_past_the_hourly_budget():
    hot = samples([90] * 8)
    just_acted = [Past(at=NOW - 100, kind="scale", component="api", breach="utilisation", helped=None)]
    held = plan("api", hot, OBJ, Bounds(cooldown_seconds=300), just_acted, NOW, horizon=3)
    assert isinstance(held, Held) and "cooldown" in held.reason
    busy_hour = [Past(at=NOW - 400 * i, kind="scale", component="api", breach="utilisation") for i in range(1, 7)]
    held = plan("api", hot, OBJ, Bounds(cooldown_seconds=300, max_actions_per_hour=6), busy_hour, NOW, horizon=3)
    assert isinstance(held, Held) and "last hour" in held.reason


def test_scale_in_waits_for_calm_and_keeps_the_predicted_peak_in_the_band():
    quiet = samples([20] * 10, replicas=4)  # 10% on 4 replicas
    action = plan("api", quiet, OBJ, Bounds(), [], NOW, horizon=3)
    assert action.kind == "scale" and action.replicas == 1  # 20 / (50 * 0.525) -> 1
    blip = samples([20] * (CALM - 1) + [150] + [20] * (CALM - 1), replicas=4)  # not calm long enough
    assert plan("api", blip, OBJ, Bounds(), [], NOW, horizon=3) is None
    assert plan("api", quiet, OBJ, Bounds(min_replicas=2), [], NOW, horizon=3).replicas == 2


def test_an_area_far_away_is_answered_by_a_move_not_more_replicas():
    far = samples([50] * 8, p95={"paris": 85.0})  # 50% busy: the latency is distance
    action = plan("api", far, OBJ, Bounds(), [], NOW, horizon=3)
    assert action.kind == "move" and action.area == "paris" and "distance" in action.reason
    no_moves = plan("api", far, OBJ, Bounds(move=False), [], NOW, horizon=3)
    assert isinstance(no_moves, Held)


def test_a_scale_that_did_not_cure_an_areas_latency_is_not_tried_again_first():
    busy_and_far = samples([90] * 8, p95={"paris": 85.0})
    first = plan("api", busy_and_far, OBJ, Bounds(), [], NOW, horizon=3)
    assert first.kind == "scale"  # load first
    failed = [Past(at=NOW - 3000, kind="scale", component="api", breach="latency:paris", helped=False)]
    second = plan("api", busy_and_far, OBJ, Bounds(), failed, NOW, horizon=3)
    assert second.kind == "move" and second.area == "paris"


def test_errors_at_normal_load_are_reported_not_acted_on():
    erring = samples([50] * 8, errors=0.2)
    held = plan("api", erring, Objectives(max_error_rate=0.05), Bounds(), [], NOW, horizon=3)
    assert isinstance(held, Held) and "canary" in held.reason


def test_all_well_is_no_action():
    assert plan("api", samples([50] * 8), OBJ, Bounds(), [], NOW, horizon=3) is None
