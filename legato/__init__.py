"""Legato: a Multi-Cloud Orchestrator for the telco cloud-edge continuum, on Temporal."""

__version__ = "0.1.0"
