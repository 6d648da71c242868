"""Every activity group, built on the worker's adapters and inventory."""


from legato.activities.autopilot import AutopilotActivities
from legato.activities.federation import FederationActivities
from legato.activities.inventory import InventoryActivities
from legato.activities.maintenance import MaintenanceActivities
from legato.activities.mcm import MCMActivities
from legato.activities.pim import PIMActivities
from legato.activities.placement import PlacementActivities
from legato.activities.rebalance import RebalanceActivities
from legato.activities.reconcile import ReconcileActivities
from legato.activities.scheduled_runs import ScheduledRunActivities
from legato.activities.schedules import ScheduleActivities
from legato.activities.tcm import TCMActivities
from legato.activities.tmf import TmfActivities
from legato.activities.wdm import WDMActivities
from legato.adapters.registry import Adapters
from legato.federation.partners import Federation
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum


def build_activities(adapters: Adapters, inventory: Inventory, federation: Federation | None = None,
                     live: LiveContinuum | None = None) -> list:
    live = live or LiveContinuum(inventory)  # one cached continuum per worker, shared by its decisions
    groups = [
        InventoryActivities(inventory),
        PlacementActivities(inventory, live, federation),
        PIMActivities(adapters.pim, inventory),
        MCMActivities(adapters.mcm, inventory),
        WDMActivities(adapters.wdm, inventory),
        TCMActivities(adapters.tcm, inventory),
        ReconcileActivities(adapters, inventory),
        RebalanceActivities(inventory, live),
        AutopilotActivities(adapters.telemetry, inventory, live),
        TmfActivities(inventory),
        FederationActivities(federation, inventory),
        ScheduleActivities(inventory),
        ScheduledRunActivities(inventory),
        MaintenanceActivities(inventory),
    ]
    return [fn for group in groups for fn in group.activities()]
