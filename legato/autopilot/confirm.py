"""When a failure is a failure: a host, cluster or site seen unhealthy is acted on only once it has
been unhealthy for the whole confirmation window, every reading in between included; a blip shorter
than the window never acts (Karmada's failover acts on one missed heartbeat and evicts workloads
that were fine). And when it is back: healthy for the window again, before what Legato left there
is cleaned up, so a resource that flaps is neither healed onto nor cleaned twice.

Pure, over the readings the autopilot keeps (oldest first), so the rule is tested without time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

State = Literal["healthy", "suspect", "failed", "recovering"]


@dataclass(frozen=True)
class Reading:
    at: float
    healthy: bool
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    state: State
    since: float | None  # when the current run of readings began
    detail: str


def verdict(readings: Sequence[Reading], window: float, was_failed: bool = False) -> Verdict:
    """`failed` once the readings have been unhealthy for `window` seconds without a break;
    `suspect` before that; for a resource already confirmed failed (`was_failed`), `recovering`
    until it has been healthy for `window`, then `healthy`."""
    if not readings:
        return Verdict("failed" if was_failed else "healthy", None, "no reading")
    last = readings[-1]
    run_start = last.at
    for reading in reversed(readings):
        if reading.healthy != last.healthy:
            break
        run_start = reading.at
    lasted = last.at - run_start
    if not last.healthy:
        if was_failed or lasted >= window:
            return Verdict("failed", run_start, f"{last.detail or 'unhealthy'} for {lasted:.0f} s")
        return Verdict("suspect", run_start, f"{last.detail or 'unhealthy'} for {lasted:.0f} s (< {window:g} s)")
    if was_failed and lasted < window:
        return Verdict("recovering", run_start, f"healthy again for {lasted:.0f} s (< {window:g} s)")
    return Verdict("healthy", run_start, "")
