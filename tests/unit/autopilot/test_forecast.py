"""The forecast the autopilot plans with: it follows a ramp ahead of the samples, sees a daily
peak coming once it has two days of them, and bounds its noise from above."""

import math

import pytest

from legato.autopilot.forecast import forecast

DAY = 24  # samples per (compressed) day: one an hour


def daily(days: int, base: float = 100, amplitude: float = 60, peak_hour: int = 20) -> list[float]:
    return [base + amplitude * math.cos(2 * math.pi * (h - peak_hour) / DAY) for h in range(days * DAY)]


def test_a_ramp_is_followed_ahead_of_the_last_sample():
    ramp = [100 + 10 * i for i in range(20)]  # +10 a step
    ahead = forecast(ramp, horizon=3)
    assert ahead.method == "holt"
    assert ahead.peak > ramp[-1] + 15  # it expects more, not the last value again
    assert ahead.upper >= ahead.peak


def test_the_evening_peak_is_seen_coming_once_two_days_are_known():
    samples = daily(3)[: 2 * DAY + 16]  # two days, then up to 16:00 of the third
    ahead = forecast(samples, horizon=6, season=DAY)  # to 22:00: the 20:00 peak is in it
    assert ahead.method == "holt-winters"
    assert ahead.peak == pytest.approx(160, rel=0.1)
    assert ahead.peak > samples[-1] + 30  # well above where the load is now
    trend_only = forecast(samples, horizon=6)  # the same samples read without their season
    assert abs(trend_only.peak - 160) > abs(ahead.peak - 160)  # a ramp misjudges where the peak stops


def test_short_or_flat_series_forecast_their_last_value():
    assert forecast([5.0], horizon=2).peak == 5.0
    flat = forecast([40.0] * 30, horizon=5)
    assert (flat.peak, flat.upper, flat.method) == (40.0, 40.0, "last")


def test_noise_widens_the_upper_bound_only():
    rng = [100, 130, 90, 125, 95, 120, 85, 135, 92, 118, 97, 128]
    ahead = forecast(rng, horizon=2)
    assert ahead.upper > ahead.peak + 5


def test_bad_requests_are_refused():
    with pytest.raises(ValueError):
        forecast([], horizon=1)
    with pytest.raises(ValueError):
        forecast([1, 2, 3], horizon=0)
