"""TMF633/638/641 end to end over HTTP: a catalog spec, orders driven by the workflows, events at a
listener (which is down for a while), modify by characteristic, cancellation in progress, delete;
every response checked against the official v4.0.0 schemas."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from tests.specs import example
from tests.tmf import (
    CATALOG,
    INVENTORY,
    ORDERING,
    Listener,
    add,
    cancel_while_deploying,
    conforms,
    delete,
    modify,
    order,
    wait_order,
)

STATE_CHANGE = "ServiceOrderStateChangeEvent"


async def test_order_lifecycle_with_events_modify_and_delete(stack):
    with Listener() as listener:
        async with stack.http() as client:
            for base in (ORDERING, INVENTORY):
                hub = await client.post(f"{base}/hub", json={"callback": listener.url})
                assert hub.status_code == 201, hub.text
                conforms("TMF641", "EventSubscription", hub.json())
            listener.down = True  # the listener is down while the order runs: its events wait

            # TMF633: the shipped templates, and one of our own.
            specs = await client.get(f"{CATALOG}/serviceSpecification")
            assert specs.status_code == 200 and int(specs.headers["X-Total-Count"]) >= 3
            for spec in specs.json():
                conforms("TMF633", "ServiceSpecification", spec)
            shop = {s["id"]: s for s in specs.json()}["web-shop"]
            assert {"api.replicas", "api.version", "api.site", "policy", "userAreas"} <= {
                c["name"] for c in shop["specCharacteristic"]}
            mine = await client.post(f"{CATALOG}/serviceSpecification",
                                     json={"name": "my shop", "serviceTemplate": example("web-shop")})
            assert mine.status_code == 201, mine.text
            conforms("TMF633", "ServiceSpecification", mine.json())
            spec_id = mine.json()["id"]

            # TMF641: add, with characteristics.
            created = await client.post(f"{ORDERING}/serviceOrder",
                                        json=order(add(spec_id, name="shop", api__replicas=3), externalId="BSS-1"))
            assert created.status_code == 201, created.text
            conforms("TMF641", "ServiceOrder", created.json())
            order_id = created.json()["id"]
            assert created.json()["state"] == "acknowledged"
            done = await wait_order(client, order_id, {"completed", "failed", "partial"})
            assert done["state"] == "completed", done
            conforms("TMF641", "ServiceOrder", done)
            assert done["serviceOrderItem"][0]["state"] == "completed" and done["startDate"] and done["completionDate"]
            service_id = done["serviceOrderItem"][0]["service"]["id"]

            # TMF638: the service as the inventory knows it.
            svc = (await client.get(f"{INVENTORY}/service/{service_id}")).json()
            conforms("TMF638", "Service", svc)
            chars = {c["name"]: c["value"] for c in svc["serviceCharacteristic"]}
            assert svc["state"] == "active" and chars["api.replicas"] == 3
            assert svc["supportingResource"] and svc["place"]
            assert svc["serviceSpecification"]["id"] == spec_id
            assert svc["serviceOrderItem"][0]["serviceOrderId"] == order_id
            listed = await client.get(f"{INVENTORY}/service", params={"fields": "state", "limit": 1})
            assert listed.headers["X-Result-Count"] == "1" and set(listed.json()[0]) <= {"id", "href", "@type", "state"}

            # modify by characteristic: scale and upgrade, through the service's own workflow.
            changed = await client.post(f"{ORDERING}/serviceOrder", json=order(
                modify(service_id, api__replicas=4, api__version="1.3.0")))
            assert changed.status_code == 201, changed.text
            done = await wait_order(client, changed.json()["id"], {"completed", "failed", "partial"})
            assert done["state"] == "completed", done
            [api] = [w for w in await stack.sim_workloads(service_id) if w.component == "api"]
            assert api.replicas == 4 and api.version == "1.3.0"
            async with stack.http() as native:  # the operations log names the orders that asked
                ops = (await native.get(f"/v1/services/{service_id}/operations")).json()
            by = {(o["kind"], o["requested_by"]) for o in ops}
            assert ("deploy", f"serviceOrder {order_id} item 1") in by, ops
            assert ("scale", f"serviceOrder {changed.json()['id']} item 1") in by, ops

            listener.down = False  # back: every event arrives, in order per resource
            removed = await client.post(f"{ORDERING}/serviceOrder", json=order(delete(service_id)))
            done = await wait_order(client, removed.json()["id"], {"completed", "failed", "partial"})
            assert done["state"] == "completed", done
            assert (await client.get(f"{INVENTORY}/service/{service_id}")).json()["state"] == "terminated"
            assert stack.sim.leftovers(service_id) == {k: 0 for k in stack.sim.leftovers(service_id)}

            # lists, paging and delete of a finished order
            page = await client.get(f"{ORDERING}/serviceOrder", params={"limit": 2, "fields": "state"})
            assert page.headers["X-Total-Count"] == "3" and page.headers["X-Result-Count"] == "2"
            for body in page.json():
                conforms("TMF641", "ServiceOrder", body)
            assert (await client.delete(f"{ORDERING}/serviceOrder/{order_id}")).status_code == 204
            gone = await client.get(f"{ORDERING}/serviceOrder/{order_id}")
            assert gone.status_code == 404
            conforms("TMF641", "Error", gone.json())

        first = created.json()["id"]
        await listener.wait_for(lambda: [o["state"] for o in listener.of(STATE_CHANGE, "serviceOrder", removed.json()[
            "id"])][-1:] == ["completed"])
        assert listener.refused > 0  # it was down, and delivery retried
        assert [o["state"] for o in listener.of(STATE_CHANGE, "serviceOrder", first)] == ["inProgress", "completed"]
        assert listener.of("ServiceOrderCreateEvent", "serviceOrder", first)
        await listener.wait_for(lambda: [s["state"] for s in listener.of("ServiceStateChangeEvent", "service",
                                                                         service_id)][-1:] == ["terminated"])
        states = [s["state"] for s in listener.of("ServiceStateChangeEvent", "service", service_id)]
        assert states[:2] == ["reserved", "active"] and states[-2:] == ["inactive", "terminated"], states
        assert listener.of("ServiceCreateEvent", "service", service_id)
        for event in listener.events:
            conforms("TMF641" if "Order" in event["eventType"] else "TMF638", event["eventType"], event)


async def test_cancelling_an_order_in_progress_runs_the_compensations(stack):
    async with stack.http() as client:
        cancel, done = await cancel_while_deploying(stack, client)
        order_id = done["id"]
        conforms("TMF641", "CancelServiceOrder", cancel)
        assert done["state"] == "cancelled" and done["cancellationReason"] == "changed my mind", done
        assert done["serviceOrderItem"][0]["state"] == "cancelled"
        conforms("TMF641", "ServiceOrder", done)
        service_id = done["serviceOrderItem"][0]["service"]["id"]
        assert (await client.get(f"{INVENTORY}/service/{service_id}")).json()["state"] == "terminated"
        assert stack.sim.leftovers(service_id) == {k: 0 for k in stack.sim.leftovers(service_id)}
        for _ in range(50):  # the task's own record follows the order's by a moment
            task = (await client.get(f"{ORDERING}/cancelServiceOrder/{cancel['id']}")).json()
            if task["state"] != "inProgress":
                break
            await asyncio.sleep(0.2)
        assert task["state"] == "done" and task["effectiveCancellationDate"]
        conforms("TMF641", "CancelServiceOrder", task)
        again = await client.post(f"{ORDERING}/cancelServiceOrder", json={"serviceOrder": {"id": order_id}})
        assert again.status_code == 409
        conforms("TMF641", "Error", again.json())


async def test_deferred_start_cancelled_directly_and_partial_orders(stack):
    async with stack.http() as client:
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        waiting = await client.post(f"{ORDERING}/serviceOrder", json=order(add("web-shop"), requestedStartDate=later))
        order_id = waiting.json()["id"]
        await asyncio.sleep(1)
        assert (await client.get(f"{ORDERING}/serviceOrder/{order_id}")).json()["state"] == "acknowledged"
        await client.post(f"{ORDERING}/cancelServiceOrder", json={"serviceOrder": {"id": order_id}})
        done = await wait_order(client, order_id, {"cancelled"})
        never = done["serviceOrderItem"][0]["service"]["id"]
        assert (await client.get(f"{INVENTORY}/service/{never}")).status_code == 404

        soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        started = await client.post(f"{ORDERING}/serviceOrder", json=order(add("video-analytics"),
                                                                            requestedStartDate=soon))
        done = await wait_order(client, started.json()["id"], {"completed", "failed", "partial"})
        assert done["state"] == "completed" and done["startDate"] >= soon[:19], done
        video = done["serviceOrderItem"][0]["service"]["id"]

        # one item succeeds, one is refused by the service's workflow (no site can take it): partial
        mixed = await client.post(f"{ORDERING}/serviceOrder", json=order(
            add("web-shop"), modify(video, inference__site="rome-far-edge-1")))
        done = await wait_order(client, mixed.json()["id"], {"completed", "failed", "partial"})
        assert done["state"] == "partial", done
        assert [i["state"] for i in done["serviceOrderItem"]] == ["completed", "failed"]
        assert any("stays at" in n["text"] for n in done["note"])
        conforms("TMF641", "ServiceOrder", done)


MALFORMED = {
    "no items": ({"serviceOrderItem": []}, "serviceOrderItem"),
    "unknown action": (order({"action": "replace", "service": {"id": "x"}}), "serviceOrderItem[0].action"),
    "no spec": (order({"action": "add", "service": {}}), "serviceOrderItem[0].service.serviceSpecification"),
    "unknown spec": (order(add("nope")), "serviceOrderItem[0].service.serviceSpecification.id"),
    "unknown characteristic": (order(add("web-shop", warp__speed=9)),
                               "serviceOrderItem[0].service.serviceCharacteristic[0].name"),
    "bad value": (order(add("web-shop", api__replicas=-1)),
                  "serviceOrderItem[0].service.serviceCharacteristic[0] (api.replicas).value"),
    "unknown service": (order(delete("nope")), "serviceOrderItem[0].service.id"),
    "bad date": (order(add("web-shop"), requestedStartDate="tomorrow"), "requestedStartDate"),
}


async def test_malformed_orders_auth_and_tenants(stack):
    async with stack.http() as client:
        for case, (body, field) in MALFORMED.items():
            resp = await client.post(f"{ORDERING}/serviceOrder", json=body)
            assert resp.status_code == 400, (case, resp.text)
            conforms("TMF641", "Error", resp.json())
            assert field in resp.json()["message"], (case, resp.json())
        assert (await client.get(f"{ORDERING}/serviceOrder")).headers["X-Total-Count"] == "0"
        created = await client.post(f"{ORDERING}/serviceOrder", json=order(add("web-shop")))
        spec = await client.post(f"{CATALOG}/serviceSpecification", json={"name": "s", "serviceTemplate": example(
            "web-shop")})
        hub = await client.post(f"{ORDERING}/hub", json={"callback": "http://127.0.0.1:9/x"})
    order_id = created.json()["id"]
    async with stack.http("beta") as beta:
        assert (await beta.get(f"{ORDERING}/serviceOrder/{order_id}")).status_code == 404
        assert (await beta.get(f"{ORDERING}/serviceOrder")).json() == []
        assert (await beta.get(f"{CATALOG}/serviceSpecification/{spec.json()['id']}")).status_code == 404
        assert (await beta.delete(f"{ORDERING}/hub/{hub.json()['id']}")).status_code == 404
        assert (await beta.post(f"{ORDERING}/cancelServiceOrder",
                                json={"serviceOrder": {"id": order_id}})).status_code == 404
    async with stack.http() as client:
        done = await wait_order(client, order_id, {"completed", "failed"})
        service_id = done["serviceOrderItem"][0]["service"]["id"]
        assert (await client.delete(f"{ORDERING}/hub/{hub.json()['id']}")).status_code == 204
    async with stack.http("beta") as beta:
        assert (await beta.get(f"{INVENTORY}/service/{service_id}")).status_code == 404
        bad = await beta.post(f"{ORDERING}/serviceOrder", json=order(modify(service_id, api__replicas=2)))
        assert bad.status_code == 400 and "not found" in bad.json()["message"]
    routes = [("GET", f"{ORDERING}/serviceOrder"), ("POST", f"{ORDERING}/serviceOrder"),
              ("GET", f"{INVENTORY}/service"), ("GET", f"{CATALOG}/serviceSpecification"),
              ("POST", f"{ORDERING}/hub"), ("DELETE", f"{INVENTORY}/hub/x"), ("POST", f"{ORDERING}/cancelServiceOrder")]
    async with httpx.AsyncClient(base_url=stack.base_url) as anonymous:
        for method, path in routes:
            resp = await anonymous.request(method, path)
            assert resp.status_code == 401, path
            conforms("TMF641", "Error", resp.json())
