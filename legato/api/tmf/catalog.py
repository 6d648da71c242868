"""TMF633 Service Catalog: every Legato service template is a ServiceSpecification. The shipped
examples (deploy/examples) are built in, read-only, seen by every tenant; a tenant adds its own
with a `serviceTemplate` (a Legato ServiceSpec), and its `specCharacteristic` is derived from it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import yaml
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi import Path as PathParam
from pydantic import ValidationError

from legato.api.auth import Caller, current_caller
from legato.api.tmf.common import FIELDS, LIMIT, OFFSET, page, records, window
from legato.api.tmf.errors import invalid, not_found
from legato.api.tmf.schemas import ServiceSpecificationCreate, ServiceSpecificationUpdate
from legato.inventory.tmf_tables import ServiceSpecificationRow
from legato.model import ServiceSpec
from legato.tmf import paths, render
from legato.tmf.render import select_fields

router = APIRouter(prefix=paths.CATALOG, tags=["TMF633 service catalog"])
CATALOG_ID, CATEGORY_ID = "legato", "legato-services"


@lru_cache(maxsize=8)
def built_in(directory: Path) -> dict[str, ServiceSpec]:
    return {p.stem: ServiceSpec.model_validate(yaml.safe_load(p.read_text())) for p in sorted(directory.glob("*.yaml"))}


def template_of(body: dict) -> ServiceSpec:
    return ServiceSpec.model_validate(body["serviceTemplate"])


def visible_specs(request: Request, caller: Caller) -> list[dict]:
    """Built-in specifications first, then the caller's own."""
    base = request.app.state.settings.public_base
    out = [render.specification(base, sid, t) for sid, t in built_in(request.app.state.settings.templates_dir).items()]
    rows = records(request).specifications(None if caller.admin else caller.tenant)
    return out + [row.body for row in rows]


def find_spec(request: Request, caller: Caller, spec_id: str) -> tuple[dict, ServiceSpecificationRow | None]:
    """(TMF body, stored row or None when built in); 404 when unknown or another tenant's."""
    settings = request.app.state.settings
    templates = built_in(settings.templates_dir)
    if spec_id in templates:
        return render.specification(settings.public_base, spec_id, templates[spec_id]), None
    row = records(request).specification(spec_id)
    if row is None or not caller.sees(row.tenant):
        raise not_found("serviceSpecification", spec_id)
    return row.body, row


def _template(data: dict, field: str = "serviceTemplate") -> ServiceSpec:
    try:
        spec = ServiceSpec.model_validate({**data, "id": None, "tenant": None})
    except ValidationError as err:
        first = err.errors()[0]
        raise invalid(f"{field}.{'.'.join(str(p) for p in first['loc'])}", first["msg"]) from None
    return spec


@router.get("/serviceSpecification", summary="List ServiceSpecifications")
async def list_specifications(request: Request, response: Response, caller: Caller = Depends(current_caller),
                              fields: str | None = FIELDS, offset: int = OFFSET, limit: int = LIMIT) -> list[dict]:
    bodies, total = window(await asyncio.to_thread(visible_specs, request, caller), offset, limit)
    return page(response, bodies, total, fields)


@router.get("/serviceSpecification/{spec_id}", summary="Retrieve a ServiceSpecification")
async def get_specification(spec_id: str, request: Request, caller: Caller = Depends(current_caller),
                            fields: str | None = FIELDS) -> dict:
    body, _ = await asyncio.to_thread(find_spec, request, caller, spec_id)
    return select_fields(body, fields)


@router.post("/serviceSpecification", status_code=201, summary="Create a ServiceSpecification")
async def create_specification(data: ServiceSpecificationCreate, request: Request, response: Response,
                               caller: Caller = Depends(current_caller)) -> dict:
    template = _template(data.serviceTemplate)
    spec_id = f"spec-{secrets.token_hex(5)}"
    body = _render(request, spec_id, template, data.body())
    await asyncio.to_thread(records(request).specification_saved,
                            ServiceSpecificationRow(id=spec_id, tenant=caller.tenant, body=body),
                            "ServiceSpecificationCreateEvent")
    response.headers["Location"] = body["href"]
    return body


@router.patch("/serviceSpecification/{spec_id}", summary="Update a ServiceSpecification")
async def patch_specification(spec_id: str, data: ServiceSpecificationUpdate, request: Request,
                              caller: Caller = Depends(current_caller)) -> dict:
    old, row = await asyncio.to_thread(find_spec, request, caller, spec_id)
    if row is None:
        raise HTTPException(403, f"serviceSpecification '{spec_id}' is built in and read-only")
    changes = data.body()
    template = _template(changes["serviceTemplate"]) if "serviceTemplate" in changes else template_of(old)
    body = _render(request, spec_id, template, {**old, **changes})
    row.body = body
    await asyncio.to_thread(records(request).specification_saved, row, "ServiceSpecificationChangeEvent")
    return body


@router.delete("/serviceSpecification/{spec_id}", status_code=204, summary="Delete a ServiceSpecification")
async def delete_specification(spec_id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    _, row = await asyncio.to_thread(find_spec, request, caller, spec_id)
    if row is None:
        raise HTTPException(403, f"serviceSpecification '{spec_id}' is built in and read-only")
    await asyncio.to_thread(records(request).specification_deleted, row)
    return Response(status_code=204)


def _render(request: Request, spec_id: str, template: ServiceSpec, given: dict) -> dict:
    """The stored body: what the client gave for the descriptive attributes, the rest derived."""
    return render.specification(
        request.app.state.settings.public_base, spec_id, template, name=given.get("name"),
        description=given.get("description"), version=given.get("version") or "1.0",
        lifecycle=given.get("lifecycleStatus") or "Active", last_update=render.now())


def _catalog(request: Request, caller: Caller) -> dict:
    """The same for every caller."""
    base = request.app.state.settings.public_base
    return {"id": CATALOG_ID, "href": f"{base}{paths.CATALOG}/serviceCatalog/{CATALOG_ID}", "name": "Legato",
            "description": "Services Legato deploys on the cloud-edge continuum", "lifecycleStatus": "Active",
            "@type": "ServiceCatalog",
            "category": [{"id": CATEGORY_ID, "href": f"{base}{paths.CATALOG}/serviceCategory/{CATEGORY_ID}",
                          "name": "Legato services"}]}


def _category(request: Request, caller: Caller) -> dict:
    base = request.app.state.settings.public_base
    return {"id": CATEGORY_ID, "href": f"{base}{paths.CATALOG}/serviceCategory/{CATEGORY_ID}",
            "name": "Legato services", "isRoot": True, "lifecycleStatus": "Active", "@type": "ServiceCategory",
            "serviceCandidate": [{"id": s["id"], "name": s["name"]} for s in visible_specs(request, caller)]}


def one_of_a_kind(kind: str, kinds: str, the_id: str, body: Callable[[Request, Caller], dict]) -> None:
    """The two routes of a TMF resource Legato has exactly one of (its ServiceCatalog, its
    ServiceCategory): the list, a page of that one, and the retrieval by its id, 404 for any other.
    `body` runs in a thread (it may read the inventory). The routes keep the names, paths and
    parameters they had when each was written out: `/serviceCatalog/{catalog_id}`, operation
    `get_catalog`, and so on."""
    path = kind[0].lower() + kind[1:]  # ServiceCatalog -> serviceCatalog
    noun, nouns = kind.removeprefix("Service").lower(), kinds.removeprefix("Service").lower()

    @router.get(f"/{path}", summary=f"List {kinds}", name=f"list_{nouns}")
    async def list_the_one(request: Request, response: Response, caller: Caller = Depends(current_caller),
                           fields: str | None = FIELDS, offset: int = OFFSET, limit: int = LIMIT) -> list[dict]:
        bodies, total = window([await asyncio.to_thread(body, request, caller)], offset, limit)
        return page(response, bodies, total, fields)

    @router.get(f"/{path}/{{{noun}_id}}", summary=f"Retrieve a {kind}", name=f"get_{noun}")
    async def get_the_one(request: Request, caller: Caller = Depends(current_caller), fields: str | None = FIELDS,
                          asked: str = PathParam(alias=f"{noun}_id")) -> dict:
        if asked != the_id:
            raise not_found(path, asked)
        return select_fields(await asyncio.to_thread(body, request, caller), fields)


one_of_a_kind("ServiceCatalog", "ServiceCatalogs", CATALOG_ID, _catalog)
one_of_a_kind("ServiceCategory", "ServiceCategories", CATEGORY_ID, _category)
