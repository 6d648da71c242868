"""Legato records rendered as TMF resources (v4.0.0 field names) and TMF event envelopes."""

from __future__ import annotations

from datetime import UTC, datetime

from legato.model import ServiceSpec
from legato.model.service import ITEM_LABEL, ORDER_LABEL, SPEC_LABEL  # noqa: F401 (the TMF638 links use them)
from legato.tmf import paths
from legato.tmf.characteristics import characteristic_specs, service_characteristics
from legato.tmf.states import service_state


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def now() -> str:
    return iso(datetime.now(UTC))


def related_party(tenant: str) -> dict:
    return {"id": tenant, "role": "customer", "@type": "RelatedParty", "@referredType": "Organization"}


def service(base: str, row, components: list, hosts: list[str]) -> dict:
    """A TMF638 Service from the inventory: characteristics in force, clusters and hosts as
    supporting resources, sites as places, and the order item that created it."""
    spec = ServiceSpec.model_validate(row.spec) if row.spec else None
    sites = {c.name: c.site for c in components}
    state = service_state(row.state)
    body = {
        "id": row.id, "href": paths.service_href(base, row.id), "name": row.name, "@type": "Service",
        "category": "CFS", "serviceType": "legato-service", "state": state,
        "isServiceEnabled": state == "active", "hasStarted": state in ("active", "inactive", "terminated"),
        "isStateful": True, "isBundle": False,
        "serviceDate": iso(row.created_at), "startDate": iso(row.created_at),
        "relatedParty": [related_party(row.tenant)],
        "supportingResource": (
            [{"id": cluster, "name": cluster, "@referredType": "KubernetesCluster"}
             for cluster in sorted({c.cluster for c in components})]
            + [{"id": host, "name": host, "@referredType": "PhysicalHost"} for host in sorted(hosts)]),
        "place": [{"id": site, "name": site, "role": "deploymentSite", "@referredType": "GeographicSite"}
                  for site in sorted(set(sites.values()))],
    }
    if state == "terminated":
        body["endDate"] = iso(row.updated_at)
    if row.error:
        body["note"] = [{"text": row.error, "author": "legato", "date": iso(row.updated_at)}]
    if spec is not None:
        body["serviceCharacteristic"] = service_characteristics(spec, sites)
        if spec.labels.get(SPEC_LABEL):
            body["serviceSpecification"] = {"id": spec.labels[SPEC_LABEL], "href": paths.spec_href(
                base, spec.labels[SPEC_LABEL]), "@referredType": "ServiceSpecification"}
        if spec.labels.get(ORDER_LABEL):
            order = spec.labels[ORDER_LABEL]
            body["serviceOrderItem"] = [{"serviceOrderId": order, "serviceOrderHref": paths.order_href(base, order),
                                         "itemId": spec.labels.get(ITEM_LABEL, ""), "itemAction": "add",
                                         "role": "creator", "@referredType": "ServiceOrderItem"}]
    return body


def specification(base: str, spec_id: str, template: ServiceSpec, *, name: str | None = None,
                  description: str | None = None, version: str = "1.0", lifecycle: str = "Active",
                  last_update: str | None = None) -> dict:
    """A TMF633 ServiceSpecification of a Legato service template."""
    return clean({
        "id": spec_id, "href": paths.spec_href(base, spec_id), "name": name or template.name,
        "description": description or f"Legato service template '{template.name}' with "
                                      f"{len(template.components)} component(s)",
        "version": version, "lifecycleStatus": lifecycle, "lastUpdate": last_update, "isBundle": False,
        "specCharacteristic": characteristic_specs(template),
        "@type": "LegatoServiceSpecification", "@baseType": "ServiceSpecification",
        "serviceTemplate": template.model_dump(mode="json", by_alias=True, exclude={"id", "tenant"}),
    })


def event(event_id: str, event_type: str, resource_key: str, resource: dict, when: str) -> dict:
    """A TMF notification: `{eventId, eventTime, eventType, event: {<resource>: ...}}`."""
    return {"eventId": event_id, "eventTime": when, "eventType": event_type, "timeOcurred": when,
            "domain": "legato", "title": event_type, "event": {resource_key: resource}}


def clean(body: dict) -> dict:
    """Absent, not null: the schemas type every attribute (a null date-time is invalid)."""
    return {k: v for k, v in body.items() if v is not None}


def select_fields(body: dict, fields: str | None) -> dict:
    """The `fields` query parameter: only the named attributes (plus id, href and @type)."""
    if not fields:
        return body
    wanted = {f.strip() for f in fields.split(",") if f.strip()} | {"id", "href", "@type"}
    return {k: v for k, v in body.items() if k in wanted}
