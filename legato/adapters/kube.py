"""Talking to Kubernetes API servers with the official client: clients from kubeconfigs, errors
mapped onto retry semantics, and the labels that mark what Legato owns.

The client is synchronous, so every call runs in a thread (`call`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from legato.adapters.errors import InvalidRequest, NotFound, PermanentFault, TransientFault

T = TypeVar("T")
NAMESPACE = "legato"
MANAGED_BY = {"app.kubernetes.io/managed-by": "legato"}
SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())  # what Legato owns, as a label selector
FIELD_MANAGER = "legato"
APPLY = "application/apply-patch+yaml"
MERGE = "application/strategic-merge-patch+json"


class KubeClusters(Protocol):
    """What the Kubernetes WDM needs from the MCM: credentials per cluster (a kubeconfig each)."""

    async def api_client(self, cluster_id: str) -> client.ApiClient:
        """NotFound for a cluster this MCM does not serve."""
        ...

    async def kube_cluster_ids(self) -> list[str]: ...


def client_from_kubeconfig(path: Path, context: str | None = None) -> client.ApiClient:
    try:
        data = yaml.safe_load(path.expanduser().read_text())
    except OSError as err:
        raise InvalidRequest(f"kubeconfig {path}: cannot read ({type(err).__name__})") from None
    contexts = {c["name"] for c in (data or {}).get("contexts") or []}
    if context is not None and context not in contexts:
        raise InvalidRequest(f"kubeconfig {path}: no context {context!r} (has {sorted(contexts)})")
    return config.new_client_from_config_dict(data, context=context, persist_config=False)


def kube_call(cluster_id: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ApiException as err:
        reason = f"cluster {cluster_id}: {err.status} {err.reason}: {_message(err)}"
        if err.status == 404:
            raise NotFound(reason) from None
        if err.status in (400, 422):
            raise InvalidRequest(reason) from None
        if err.status in (401, 403):
            raise PermanentFault(reason) from None
        raise TransientFault(reason) from None  # 409 conflicts, 429, 5xx: try again
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise TransientFault(f"cluster {cluster_id}: API server unreachable ({type(err).__name__})") from None


async def call(cluster_id: str, fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(kube_call, cluster_id, fn)


async def call_or_none(cluster_id: str, fn: Callable[[], T]) -> T | None:
    """A read or a delete where a missing object is an answer, not an error."""
    try:
        return await call(cluster_id, fn)
    except NotFound:
        return None


def _message(err: ApiException) -> str:
    try:
        return yaml.safe_load(err.body or "{}").get("message", "")[:300]
    except (yaml.YAMLError, AttributeError):
        return ""
