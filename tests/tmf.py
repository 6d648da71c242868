"""TMF test helpers: the official v4.0.0 schemas (copied into tests/tmf_specs), a listener that
records the events it is sent (and can be down), and order polling."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema_rs

from legato.devserver import free_port

SPECS = Path(__file__).resolve().parent / "tmf_specs"
FILES = {"TMF633": "TMF633-ServiceCatalog-v4.0.0.swagger.json", "TMF638": "TMF638-ServiceInventory-v4.0.0.swagger.json",
         "TMF641": "TMF641-ServiceOrdering-v4.0.0.swagger.json"}
ORDERING = "/tmf-api/serviceOrdering/v4"
INVENTORY = "/tmf-api/serviceInventory/v4"
CATALOG = "/tmf-api/serviceCatalogManagement/v4"


@cache
def _validator(api: str, definition: str):
    swagger = json.loads((SPECS / FILES[api]).read_text())
    schema = {"$ref": f"#/definitions/{definition}", "definitions": swagger["definitions"]}
    return jsonschema_rs.Draft4Validator(schema, validate_formats=True)


def conforms(api: str, definition: str, body) -> None:
    """Assert `body` is a valid `definition` of the official swagger of `api`."""
    errors = [f"{e.instance_path}: {e.message}" for e in _validator(api, definition).iter_errors(body)]
    assert not errors, f"{definition} does not conform to {api}: {errors[:5]}"


class Listener:
    """An HTTP server that records the JSON it is POSTed; `down` makes it answer 503."""

    def __init__(self):
        self.events: list[dict] = []
        self.refused = 0
        self.down = False
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if listener.down:
                    listener.refused += 1
                    self.send_response(503)
                else:
                    listener.events.append(json.loads(body))
                    self.send_response(201)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/listener"

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()

    def of(self, event_type: str, key: str, resource_id: str) -> list[dict]:
        return [e["event"][key] for e in self.events
                if e["eventType"] == event_type and e["event"][key]["id"] == resource_id]

    async def wait_for(self, predicate, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"events never arrived; got {[e['eventType'] for e in self.events]}"
            await asyncio.sleep(0.2)


async def wait_order(client, order_id: str, states: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    order = None
    while time.monotonic() < deadline:
        order = (await client.get(f"{ORDERING}/serviceOrder/{order_id}")).json()
        if order.get("state") in states:
            return order
        await asyncio.sleep(0.3)
    raise AssertionError(f"order {order_id} never reached {states}: {order}")


def characteristics(**values) -> list[dict]:
    """`api__replicas=3` -> [{"name": "api.replicas", "value": 3}]."""
    return [{"name": k.replace("__", "."), "value": v} for k, v in values.items()]


def order(*items: dict, **attrs) -> dict:
    return {"serviceOrderItem": [{"id": str(i + 1), "@type": "ServiceOrderItem", **item}
                                 for i, item in enumerate(items)], **attrs}


def add(spec_id: str, name: str | None = None, **values) -> dict:
    service = {"serviceSpecification": {"id": spec_id}, "serviceCharacteristic": characteristics(**values)}
    return {"action": "add", "service": {**service, **({"name": name} if name else {})}}


def modify(service_id: str, **values) -> dict:
    return {"action": "modify", "service": {"id": service_id, "serviceCharacteristic": characteristics(**values)}}


def delete(service_id: str) -> dict:
    return {"action": "delete", "service": {"id": service_id}}


async def cancel_while_deploying(stack, client, reason: str = "changed my mind") -> tuple[dict, dict]:
    """A web-shop order whose deployment is made slow, cancelled once it is in progress: the
    cancellation task as created (201) and the order once it has ended."""
    stack.sim.set_latency("wdm.deploy", 2.0)
    try:
        created = await client.post(f"{ORDERING}/serviceOrder", json=order(add("web-shop")))
        order_id = created.json()["id"]
        await wait_order(client, order_id, {"inProgress"})
        cancel = await client.post(f"{ORDERING}/cancelServiceOrder",
                                   json={"serviceOrder": {"id": order_id}, "cancellationReason": reason})
        assert cancel.status_code == 201, cancel.text
        return cancel.json(), await wait_order(client, order_id, {"cancelled", "completed", "failed"})
    finally:
        stack.sim.set_latency("wdm.deploy", 0.0)
