"""TMF633 Service Catalog: every Legato service template is a ServiceSpecification. The shipped
examples (deploy/examples) are built in, read-only, seen by every tenant; a tenant adds its own
with a `serviceTemplate` (a Legato ServiceSpec), and its `specCharacteristic` is derived from it."""

from __future__ import annotations

import asyncio
import secrets
from functools import lru_cache
from pathlib import Path

import yaml
from fastapi import APIRouter, Depends, HTTPException, Request, Response
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


def _catalog(request: Request) -> dict:
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


@router.get("/serviceCatalog", summary="List ServiceCatalogs")
async def list_catalogs(request: Request, response: Response, caller: Caller = Depends(current_caller),
                        fields: str | None = FIELDS, offset: int = OFFSET, limit: int = LIMIT) -> list[dict]:
    bodies, total = window([_catalog(request)], offset, limit)
    return page(response, bodies, total, fields)


@router.get("/serviceCatalog/{catalog_id}", summary="Retrieve a ServiceCatalog")
async def get_catalog(catalog_id: str, request: Request, caller: Caller = Depends(current_caller),
                      fields: str | None = FIELDS) -> dict:
    if catalog_id != CATALOG_ID:
        raise not_found("serviceCatalog", catalog_id)
    return select_fields(_catalog(request), fields)


@router.get("/serviceCategory", summary="List ServiceCategories")
async def list_categories(request: Request, response: Response, caller: Caller = Depends(current_caller),
                          fields: str | None = FIELDS, offset: int = OFFSET, limit: int = LIMIT) -> list[dict]:
    category = await asyncio.to_thread(_category, request, caller)
    bodies, total = window([category], offset, limit)
    return page(response, bodies, total, fields)


@router.get("/serviceCategory/{category_id}", summary="Retrieve a ServiceCategory")
async def get_category(category_id: str, request: Request, caller: Caller = Depends(current_caller),
                       fields: str | None = FIELDS) -> dict:
    if category_id != CATEGORY_ID:
        raise not_found("serviceCategory", category_id)
    return select_fields(await asyncio.to_thread(_category, request, caller), fields)
