"""Connecting to Temporal: the embedded dev server or any cluster / Temporal Cloud."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from legato.config import Settings
from legato.workflows.contracts import SEARCH_ATTRIBUTES


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client whose calls (and the workers built on it) carry trace context."""
    tls: bool | TLSConfig = settings.temporal_tls
    if settings.temporal_tls and (settings.temporal_tls_cert or settings.temporal_tls_ca):
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
            client_private_key=settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None,
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
        )
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls,
        api_key=api_key,
        data_converter=pydantic_data_converter,
        interceptors=[TracingInterceptor()],
        runtime=runtime,
    )


async def search_attributes_registered(client: Client) -> bool:
    """Whether the namespace knows Legato's search attributes (the embedded server registers them at
    start; on another cluster an operator runs `temporal operator search-attribute create`)."""
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    try:
        resp = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except Exception:  # noqa: BLE001 - a cloud namespace may refuse the operator API: don't index
        return False
    return all(key.name in resp.custom_attributes for key in SEARCH_ATTRIBUTES)
