"""What the end-to-end tests do through Legato's front doors, the HTTP API and the `legato`
command, as an operator would: deploy until active, ask a day-2 operation, run the CLI."""

import asyncio
import os
import sys

from tests.stack import TOKENS


async def active(stack, spec: dict) -> str:
    service_id = await stack.deploy(spec)
    svc = await stack.wait_state(service_id, {"active", "failed"})
    assert svc["state"] == "active", svc.get("error")
    return service_id


async def operate(stack, service_id: str, path: str, body: dict, expect: int = 200, **params) -> dict:
    async with stack.http() as client:
        resp = await client.post(f"/v1/services/{service_id}/{path}", json=body, params=params, timeout=120)
    assert resp.status_code == expect, resp.text
    return resp.json()


def day2(ops: list[dict]) -> list[dict]:
    """The day-2 operations of an operations log (the deployment and the teardown are there too)."""
    return [o for o in ops if o["kind"] not in ("deploy", "terminate")]


async def component_workloads(stack, service_id: str, component: str):
    return [w for w in await stack.sim_workloads(service_id) if w.component == component]


async def legato(stack, *args: str, tenant: str = "alpha") -> tuple[int, str]:
    env = {**os.environ, "LEGATO_API_URL": stack.base_url, "LEGATO_TOKEN": TOKENS[tenant], "COLUMNS": "200"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "legato.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=180)
    return proc.returncode, out.decode()
