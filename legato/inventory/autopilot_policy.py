"""The operator's autopilot policy in the inventory: an API record. An operator sets it (PUT
/v1/autopilot/policy); the autopilot reads it on each round, and `effective_policy` makes it
stricter per service from the service's spec."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from legato.inventory.autopilot_tables import AutopilotPolicyRow
from legato.inventory.store import Store
from legato.inventory.tables import utcnow
from legato.model.intents import AutopilotPolicy

GLOBAL = "global"


class AutopilotPolicyView(AutopilotPolicy):
    """The policy as stored, with who set it and when (none: the defaults, never set)."""

    updated_by: str | None = Field(default=None, description="who set it last (none: never set, the defaults)")
    updated_at: datetime | None = None


class AutopilotPolicyRecords(Store):
    """Written by the API (an operator's PUT); read by the API and the autopilot's activities."""

    def autopilot_policy(self) -> AutopilotPolicyView:
        with self.session() as s:
            row = s.get(AutopilotPolicyRow, GLOBAL)
            if row is None:
                return AutopilotPolicyView()
            return AutopilotPolicyView(**row.policy, updated_by=row.updated_by, updated_at=row.updated_at)

    def autopilot_policy_set(self, policy: AutopilotPolicy, by: str) -> AutopilotPolicyView:
        """Replace the policy whole (a field left out of a PUT takes its default)."""
        with self.session() as s:
            row = s.get(AutopilotPolicyRow, GLOBAL) or AutopilotPolicyRow(scope=GLOBAL)
            row.policy, row.updated_by, row.updated_at = policy.model_dump(mode="json"), by, utcnow()
            s.add(row)
            return AutopilotPolicyView(**row.policy, updated_by=row.updated_by, updated_at=row.updated_at)
