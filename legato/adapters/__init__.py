"""Adapters to the TCRA managers. One sub-package per manager, one module per backend.

Every mutating call takes an operation id derived from the workflow id and the step; a backend
dedups on it, so a retried call after a crash returns the first call's result instead of acting
twice. Resource ids are derived from operation ids too (see `names`), so a compensation knows what
to undo even when the step's result never reached the workflow.
"""
