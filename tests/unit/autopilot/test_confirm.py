"""A failure is confirmed over a window that tolerates blips, and a recovery too."""

from legato.autopilot.confirm import Reading, verdict

W = 30.0


def readings(*states: tuple[float, bool]) -> list[Reading]:
    return [Reading(at, ok, "" if ok else "power off") for at, ok in states]


def test_a_blip_shorter_than_the_window_is_only_suspect():
    blip = readings((0, True), (10, False), (20, False), (35, True))
    assert verdict(blip[:3], W).state == "suspect"
    assert verdict(blip, W).state == "healthy"


def test_unhealthy_for_the_whole_window_is_failed():
    down = readings((0, True), (10, False), (25, False), (40, False))
    v = verdict(down, W)
    assert (v.state, v.since) == ("failed", 10) and "power off for 30 s" in v.detail


def test_an_unhealthy_reading_between_healthy_ones_restarts_the_count():
    flapping = readings((0, False), (20, True), (25, False), (50, False))
    assert verdict(flapping, W).state == "suspect"  # 25 s unhealthy, not 50


def test_a_failed_resource_is_recovering_until_healthy_for_the_window():
    back = readings((0, False), (40, False), (50, True), (60, True))
    assert verdict(back, W, was_failed=True).state == "recovering"
    back.append(Reading(85, True))
    assert verdict(back, W, was_failed=True).state == "healthy"
    relapse = back[:3] + readings((55, False))
    assert verdict(relapse, W, was_failed=True).state == "failed"  # no new window to fail again
