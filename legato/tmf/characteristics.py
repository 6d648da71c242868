"""Characteristics ↔ Legato's service template.

A ServiceSpecification's `specCharacteristic` lists what an order may set. Per component `c`:
`c.replicas`, `c.version`, `c.image`, `c.site` (pin to a site), `c.tiers` (placement tiers); per
service: `policy`, `labels`, and `userAreas` (on modify only their `demand_rps` may change:
legato/model/user_areas.py). An `add` item applies them to the
template; a `modify` item turns the ones that differ from the running service into day-2
operations (scale, upgrade, move, update), each with a deterministic request id."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from legato.model import ServiceSpec
from legato.model.operations import MoveRequest, Operation, ScaleRequest, UpdateServiceRequest, UpgradeRequest
from legato.model.service import PlacementRules, UserArea
from legato.model.user_areas import connection_changes

COMPONENT_FIELDS = {  # name suffix -> (valueType, what it is)
    "replicas": ("integer", "replicas; on modify: scale"),
    "version": ("string", "version; on modify: rolling upgrade"),
    "image": ("string", "image (with a version); on modify: part of the upgrade"),
    "site": ("string", "pin to this site; on modify: move there"),
    "tiers": ("array", "placement tiers (far-edge, edge, regional, cloud); on modify: move"),
}
SERVICE_FIELDS = {
    "policy": ("object", "placement policy: objective weights and hard rules; on modify: update"),
    "labels": ("object", "labels; on modify: update"),
    "userAreas": ("array", "user areas the service serves; on modify: update (only each area's demand_rps)"),
}
ADD_ONLY: set[str] = set()


class InvalidCharacteristic(ValueError):
    """A characteristic a client sent cannot be applied; `field` names it for the error."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def characteristic_specs(template: ServiceSpec) -> list[dict]:
    """TMF633 CharacteristicSpecification list of a template, each with its default value."""
    out = []
    for comp in template.components:
        defaults = {"replicas": comp.replicas, "version": comp.version, "image": comp.image,
                    "site": (comp.placement.sites or [None])[0], "tiers": comp.placement.tiers}
        for suffix, (value_type, what) in COMPONENT_FIELDS.items():
            out.append(_spec(f"{comp.name}.{suffix}", value_type, f"{comp.name}: {what}", defaults[suffix]))
    defaults = {"policy": template.policy.model_dump(mode="json"), "labels": template.labels,
                "userAreas": [a.model_dump(mode="json") for a in template.user_areas]}
    for name, (value_type, what) in SERVICE_FIELDS.items():
        out.append(_spec(name, value_type, what, defaults[name]))
    return out


def _spec(name: str, value_type: str, description: str, default: Any) -> dict:
    spec = {"id": name, "name": name, "description": description, "valueType": value_type, "configurable": True,
            "minCardinality": 0, "maxCardinality": 1, "@type": "CharacteristicSpecification"}
    if default is not None:
        spec["characteristicValueSpecification"] = [{"valueType": value_type, "isDefault": True, "value": default}]
    return spec


def service_characteristics(spec: ServiceSpec, sites: dict[str, str]) -> list[dict]:
    """TMF638 serviceCharacteristic of a service: the same names, with the values in force."""
    out = []
    for comp in spec.components:
        values = {"replicas": comp.replicas, "version": comp.version, "image": comp.image,
                  "site": sites.get(comp.name), "tiers": comp.placement.tiers}
        for suffix, (value_type, _) in COMPONENT_FIELDS.items():
            if values[suffix] is not None:
                out.append({"name": f"{comp.name}.{suffix}", "valueType": value_type, "value": values[suffix]})
    out.append({"name": "policy", "valueType": "object", "value": spec.policy.model_dump(mode="json")})
    out.append({"name": "labels", "valueType": "object", "value": spec.labels})
    areas = [a.model_dump(mode="json") for a in spec.user_areas]
    out.append({"name": "userAreas", "valueType": "array", "value": areas})
    return out


def by_name(chars: list[dict], where: str, template: ServiceSpec, add: bool) -> dict[str, Any]:
    """name -> value, refusing unknown and repeated names (and add-only ones on modify)."""
    known = {f"{c.name}.{s}" for c in template.components for s in COMPONENT_FIELDS} | set(SERVICE_FIELDS)
    values: dict[str, Any] = {}
    for i, char in enumerate(chars):
        field, name = f"{where}[{i}]", char.get("name")
        if name not in known:
            raise InvalidCharacteristic(f"{field}.name", f"unknown characteristic '{name}'; known: {sorted(known)}")
        if name in values:
            raise InvalidCharacteristic(f"{field}.name", f"characteristic '{name}' given twice")
        if not add and name in ADD_ONLY:
            raise InvalidCharacteristic(f"{field}.name", f"'{name}' can only be set when the service is added")
        values[name] = char.get("value")
    return values


def _field_of(values: dict[str, Any], where: str, chars_index: dict[str, int], loc: tuple) -> str:
    """The characteristic a validation error's location comes from."""
    name = None
    if loc[:1] == ("components",) and len(loc) > 2:
        comp = values.get("__components__", [])[loc[1]] if isinstance(loc[1], int) else None
        suffix = {"placement": "tiers" if "tiers" in loc else "site"}.get(loc[2], loc[2])
        name = f"{comp}.{suffix}" if comp else None
    elif loc[:1] == ("user_areas",):
        name = "userAreas"
    elif loc[:1] in (("policy",), ("labels",)):
        name = loc[0]
    if name in chars_index:
        return f"{where}[{chars_index[name]}] ({name}).value"
    return ".".join(str(p) for p in loc)


def apply_to_template(template: ServiceSpec, chars: list[dict], where: str, **fields) -> ServiceSpec:
    """An `add` item: the template with the order's characteristics (and `fields` such as id, name)."""
    values = by_name(chars, where, template, add=True)
    index = {c.get("name"): i for i, c in enumerate(chars)}
    data = template.model_dump(mode="json", by_alias=True)
    for comp in data["components"]:
        for suffix in COMPONENT_FIELDS:
            key = f"{comp['name']}.{suffix}"
            if key not in values:
                continue
            if suffix == "site":
                comp["placement"]["sites"] = [values[key]]
            elif suffix == "tiers":
                comp["placement"]["tiers"] = values[key]
            else:
                comp[suffix] = values[key]
    for name, attr in (("policy", "policy"), ("labels", "labels"), ("userAreas", "user_areas")):
        if name in values:
            data[attr] = values[name]
    data.update(fields)
    try:
        return ServiceSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        names = {"__components__": [c["name"] for c in data["components"]]}
        field = _field_of(names, where, index, tuple(first["loc"]))
        raise InvalidCharacteristic(field, first["msg"]) from None


def operations(current: ServiceSpec, sites: dict[str, str], chars: list[dict], where: str,
               request_base: str, requested_by: str = "") -> list[Operation]:
    """A `modify` item: one day-2 operation per kind of change (update, upgrade, scale, move), in
    that order, skipping values that are already in force. Request ids derive from `request_base`;
    `requested_by` names the order and item in each operation's record."""
    values = by_name(chars, where, current, add=False)
    index = {c.get("name"): i for i, c in enumerate(chars)}
    ops: list[Operation] = []

    def field(name: str) -> str:
        return f"{where}[{index[name]}] ({name}).value"

    def build(name: str, make):
        try:
            return make()
        except ValidationError as err:
            raise InvalidCharacteristic(field(name), err.errors()[0]["msg"]) from None

    update = {k: values[k] for k in ("policy", "labels") if k in values}
    changed = ("policy" in update and update["policy"] != current.policy.model_dump(mode="json")) or (
        "labels" in update and update["labels"] != current.labels)
    if "userAreas" in values:
        if not isinstance(values["userAreas"], list):
            raise InvalidCharacteristic(field("userAreas"), "a list of user areas, all of the service's")
        areas = build("userAreas", lambda: [UserArea.model_validate(a) for a in values["userAreas"]])
        refused = connection_changes(current, areas)
        if refused:
            raise InvalidCharacteristic(field("userAreas"), "; ".join(why for _, why in refused))
        if areas != current.user_areas:
            update["user_areas"], changed = areas, True
    if changed:
        name = {"user_areas": "userAreas"}.get(next(iter(update)), next(iter(update)))
        ops.append(build(name, lambda: Operation(kind="update", update=UpdateServiceRequest(
            request_id=f"{request_base}/update", **update))))
    for comp in current.components:
        get = {s: values.get(f"{comp.name}.{s}") for s in COMPONENT_FIELDS}
        if get["image"] is not None and get["version"] is None:
            raise InvalidCharacteristic(field(f"{comp.name}.image"), f"give {comp.name}.version with the image")
        new_image = (get["image"] or comp.image) != comp.image
        if get["version"] is not None and (get["version"] != comp.version or new_image):
            ops.append(build(f"{comp.name}.version", lambda c=comp, g=get: Operation(
                kind="upgrade", component=c.name, upgrade=UpgradeRequest(
                    request_id=f"{request_base}/upgrade@{c.name}", version=g["version"], image=g["image"]))))
        if get["replicas"] is not None and get["replicas"] != comp.replicas:
            ops.append(build(f"{comp.name}.replicas", lambda c=comp, g=get: Operation(
                kind="scale", component=c.name, scale=ScaleRequest(
                    request_id=f"{request_base}/scale@{c.name}", replicas=g["replicas"]))))
        if get["site"] is not None and get["tiers"] is not None:
            raise InvalidCharacteristic(field(f"{comp.name}.tiers"), "give either a site or tiers, not both")
        if get["site"] is not None and get["site"] != sites.get(comp.name):
            ops.append(build(f"{comp.name}.site", lambda c=comp, g=get: Operation(
                kind="move", component=c.name, move=MoveRequest(request_id=f"{request_base}/move@{c.name}",
                                                               site=g["site"]))))
        if get["tiers"] is not None and get["tiers"] != comp.placement.tiers:
            ops.append(build(f"{comp.name}.tiers", lambda c=comp, g=get: Operation(
                kind="move", component=c.name, move=MoveRequest(
                    request_id=f"{request_base}/move@{c.name}",
                    placement=c.placement.model_copy(update={"tiers": PlacementRules(tiers=g["tiers"]).tiers,
                                                             "sites": None})))))
    for op in ops:
        op.request.requested_by = requested_by
    return ops


def inverse(op: Operation, before: ServiceSpec, sites: dict[str, str]) -> Operation:
    """The operation that undoes `op` on a service that was `before` (a cancelled order's compensation)."""
    rid, by = f"{op.request.request_id}/undo", f"{op.request.requested_by} (cancelled)".strip()
    if op.kind == "update":
        return Operation(kind="update", update=UpdateServiceRequest(
            request_id=rid, requested_by=by, policy=before.policy, labels=before.labels,
            user_areas=before.user_areas if op.update.user_areas is not None else None))
    comp = before.component(op.component)
    if op.kind == "scale":
        return Operation(kind="scale", component=comp.name, scale=ScaleRequest(request_id=rid, requested_by=by,
                                                                               replicas=comp.replicas))
    if op.kind == "upgrade":
        return Operation(kind="upgrade", component=comp.name, upgrade=UpgradeRequest(
            request_id=rid, requested_by=by, version=comp.version, image=comp.image or None))
    return Operation(kind="move", component=comp.name, move=MoveRequest(request_id=rid, requested_by=by,
                                                                       site=sites[comp.name]))
