"""Kubernetes versions: parsed, compared, and the one step an upgrade may take.

Kubernetes supports upgrading a control plane one minor at a time (v1.34.x -> v1.35.y) or to a
later patch of its own minor, never down; kubelets may lag their API server but never lead it. The
API refuses a request that breaks these rules before anything changes, and every MCM backend holds
them again, so a workflow started some other way cannot break them either."""

from __future__ import annotations

import re

VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")


def parse(version: str) -> tuple[int, int, int]:
    """(major, minor, patch) of "v1.34.4", "1.34.4" or "1.34" (patch 0); ValueError otherwise."""
    m = VERSION.fullmatch(version.strip())
    if m is None:
        raise ValueError(f"{version!r} is not a Kubernetes version (like v1.35.4)")
    return int(m[1]), int(m[2]), int(m[3] or 0)


def canonical(version: str) -> str:
    """The form clusters report (`/version`'s gitVersion): v1.34.4."""
    major, minor, patch = parse(version)
    return f"v{major}.{minor}.{patch}"


def canonical_or_none(version: str) -> str | None:
    """`canonical`, or None for something that is no version (never equal to a cluster's)."""
    try:
        return canonical(version)
    except ValueError:
        return None


def upgrade_refusal(current: str, target: str, offered: list[str]) -> str | None:
    """Why moving a cluster from `current` to `target` is refused, or None when it is one allowed
    step: a release the backend offers, newer than `current`, at most one minor up."""
    try:
        to = parse(target)
    except ValueError as err:
        return str(err)
    if canonical(target) not in {canonical(v) for v in offered}:
        return (f"version {canonical(target)} is not offered for this cluster; offered: "
                f"{', '.join(canonical(v) for v in offered) or 'none'}")
    now = parse(current)
    if to == now:
        return f"the cluster already runs {canonical(current)}"
    if to < now:
        return f"{canonical(target)} is older than the cluster's {canonical(current)}: downgrades are not supported"
    if to[0] != now[0] or to[1] > now[1] + 1:
        return (f"{canonical(target)} skips a minor version: from {canonical(current)} upgrade to "
                f"v{now[0]}.{now[1] + 1} first")
    return None
