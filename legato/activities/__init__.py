"""Thin, idempotent activities: one module per manager, plus inventory and placement.

Each activity carries the operation id the workflow derived for its step, calls one adapter,
mirrors the result into the inventory and logs the step. Adapter errors become Temporal
`ApplicationError`s: invalid input and exhausted capacity are non-retryable; transient faults
are retried by Temporal with the same operation id.

The package imports nothing itself: a workflow names an activity by reference
(`execute_activity_method(WDMActivities.deploy_workload, ...)`) and imports just that module;
`legato.activities.catalog.build_activities` gathers them all for the worker.
"""
