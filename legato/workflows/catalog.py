"""Every workflow the worker registers."""

from legato.workflows.autopilot import ApplyAutopilotAction, Autopilot
from legato.workflows.deploy_service import DeployService
from legato.workflows.event_delivery import DeliverEvents
from legato.workflows.federate_request import FederateRequest
from legato.workflows.migrate_workload import MigrateWorkload
from legato.workflows.rebalance import ApplyProposal, Rebalance
from legato.workflows.reconcile import Reconcile
from legato.workflows.scale_cluster import ScaleCluster
from legato.workflows.scheduled_operation import ScheduledOperation
from legato.workflows.service_order import ServiceOrderWorkflow
from legato.workflows.upgrade_cluster import UpgradeCluster

WORKFLOWS = [DeployService, ScaleCluster, UpgradeCluster, MigrateWorkload, Reconcile, Rebalance, ApplyProposal,
             Autopilot, ApplyAutopilotAction, ServiceOrderWorkflow, DeliverEvents, FederateRequest, ScheduledOperation]

__all__ = ["WORKFLOWS", "ApplyAutopilotAction", "ApplyProposal", "Autopilot", "DeliverEvents", "DeployService",
           "FederateRequest", "MigrateWorkload", "Rebalance", "Reconcile", "ScaleCluster", "ScheduledOperation",
           "ServiceOrderWorkflow", "UpgradeCluster"]
