"""Deterministic orchestration only: no I/O, no clocks, no randomness (see ARCHITECTURE.md)."""

from legato.workflows.deploy_service import DeployService
from legato.workflows.migrate_workload import MigrateWorkload
from legato.workflows.rebalance import ApplyProposal, Rebalance
from legato.workflows.reconcile import Reconcile
from legato.workflows.scale_cluster import ScaleCluster

WORKFLOWS = [DeployService, ScaleCluster, MigrateWorkload, Reconcile, Rebalance, ApplyProposal]

__all__ = ["WORKFLOWS", "ApplyProposal", "DeployService", "MigrateWorkload", "Rebalance", "Reconcile", "ScaleCluster"]
