"""Deterministic orchestration only: no I/O, no clocks, no randomness (see ARCHITECTURE.md)."""

from legato.workflows.deploy_service import DeployService
from legato.workflows.federate_request import FederateRequest
from legato.workflows.migrate_workload import MigrateWorkload
from legato.workflows.reconcile import Reconcile
from legato.workflows.scale_cluster import ScaleCluster

WORKFLOWS = [DeployService, ScaleCluster, MigrateWorkload, Reconcile, FederateRequest]

__all__ = ["WORKFLOWS", "DeployService", "FederateRequest", "MigrateWorkload", "Reconcile", "ScaleCluster"]
