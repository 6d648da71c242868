"""Deterministic orchestration only: no I/O, no clocks, no randomness (see ARCHITECTURE.md).

The package imports nothing itself, so importing one workflow (the service client imports
DeployService) never imports them all; `legato.workflows.catalog.WORKFLOWS` lists them for the worker.
"""
