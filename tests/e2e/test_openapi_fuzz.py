"""schemathesis over the app's whole OpenAPI (TMF and native) against the real HTTP server with a
valid token: whatever it sends, positive or malformed, the answer is never a 5xx."""

import asyncio

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, openapi

from tests.stack import TOKENS

EXAMPLES = 6  # per operation and mode: the whole run stays well under a minute on 2 cores


def fuzz(base_url: str, document: dict) -> list[str]:
    schema = openapi.from_dict(document)
    errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(mode, headers={"Authorization": f"Bearer {TOKENS['alpha']}"})

            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def call(case) -> None:
                if case.query is not None and case.method == "POST":
                    case.query = {**case.query, "wait": "false"}  # day-2 routes: never wait on a fuzzed operation
                resp = case.call(base_url=base_url, timeout=30)
                if resp.status_code >= 500:
                    errors.append(f"{case.method} {case.formatted_path}: {resp.status_code} "
                                  f"{resp.text[:200]}")

            try:
                call()
            except Unsatisfiable:
                pass  # nothing in this operation can be made malformed (no parameters, no body)
    return errors


async def test_no_server_error_on_any_route(stack):
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        document = (await client.get("/openapi.json")).json()
    assert any(p.startswith("/tmf-api/serviceOrdering/v4") for p in document["paths"])
    errors = await asyncio.to_thread(fuzz, stack.base_url, document)
    assert errors == [], "\n".join(errors)
