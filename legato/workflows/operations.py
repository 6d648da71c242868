"""Day-2 operations on a running service (Temporal updates on its entity workflow)."""

from __future__ import annotations


class Operations:
    """Mixed into DeployService: each operation is an update with a validator."""
