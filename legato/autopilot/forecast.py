"""What a series of samples will do over the next horizon: exponential smoothing (statsmodels).

Why statsmodels' Holt-Winters (`ExponentialSmoothing`): it is maintained (a NumFOCUS project, in
every scientific distribution), fits a short series in milliseconds without a compiler or a model
server (Prophet needs Stan, statsforecast numba), and its three terms are the shape of service load:
a level, a trend (damped, so a ramp is not extrapolated for ever) and a daily season once two days
of samples exist. It is fitted afresh on each planning round from the samples the inventory keeps,
so nothing is trained ahead or stored besides the samples.

The answer is the peak over the horizon and an upper bound (the peak plus `Z` times the standard
deviation of the fit's one-step errors): the autopilot scales for the upper bound going up and for
the peak going down, so noise pushes towards capacity, never away from it."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

Z = 1.28  # the 90th percentile of a normal error: the bound a scale-out covers
MIN_SAMPLES = 6  # fewer: the last sample is the forecast (no trend can be told from noise)


@dataclass(frozen=True)
class Forecast:
    peak: float  # the largest value expected over the horizon
    upper: float  # the peak plus Z standard deviations of the fit's errors
    method: str  # "last" | "holt" | "holt-winters": what the samples allowed


def forecast(values: Sequence[float], horizon: int, season: int | None = None) -> Forecast:
    """`values`: evenly spaced samples, oldest first, all finite; `horizon`: steps ahead (>= 1);
    `season`: samples per season (a day), used once two whole seasons are in `values`."""
    if not values:
        raise ValueError("no samples to forecast from")
    if horizon < 1:
        raise ValueError("the horizon is at least one step")
    last = float(values[-1])
    if len(values) < MIN_SAMPLES or max(values) == min(values):
        spread = _spread(values)
        return Forecast(peak=last, upper=last + Z * spread, method="last")
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # scipy and pandas: only when fitting

    seasonal = season is not None and season >= 2 and len(values) >= 2 * season
    model = ExponentialSmoothing(
        [float(v) for v in values], trend="add", damped_trend=True,
        seasonal="add" if seasonal else None, seasonal_periods=season if seasonal else None,
        initialization_method="estimated",
    )  # fmt: skip
    with warnings.catch_warnings():  # convergence chatter on flat stretches: the fit is still usable
        warnings.simplefilter("ignore")
        fit = model.fit(optimized=True)
    ahead = [float(v) for v in fit.forecast(horizon)]
    if not all(math.isfinite(v) for v in ahead):
        return Forecast(peak=last, upper=last + Z * _spread(values), method="last")
    errors = [float(e) for e in fit.resid if math.isfinite(e)]
    spread = math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else 0.0
    peak = max(0.0, max(ahead))
    return Forecast(peak=peak, upper=peak + Z * spread, method="holt-winters" if seasonal else "holt")


def _spread(values: Sequence[float]) -> float:
    """The standard deviation of the step-to-step changes: the noise of a series too short to fit."""
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    if not steps:
        return 0.0
    mean = sum(steps) / len(steps)
    return math.sqrt(sum((s - mean) ** 2 for s in steps) / len(steps))
