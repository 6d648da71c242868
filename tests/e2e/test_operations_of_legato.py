"""Running Legato as an operator does: the docs page offline, operator-only /metrics and /readyz,
tenants added to the tokens file while the API runs, JSON logs from every process, and Ctrl-C on
`legato up`. Everything goes through the real HTTP API, the real CLI or a real `legato up`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml

from legato.devserver import DevServer, free_port
from tests.specs import example
from tests.stack import make_settings, running_stack


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, temporal_server):
    """One API for the module, reading a tokens file the tests change while it runs."""
    data = tmp_path_factory.mktemp("operations")
    tokens = data / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": [{"tenant": "gamma", "token": "token-gamma"}]}))
    tokens.chmod(0o600)
    async with running_stack(data / "legato", temporal_server.address, api_tokens_file=tokens) as s:
        yield s


async def legato(stack, *args: str) -> tuple[int, str]:
    """The CLI as typed, with no LEGATO_TOKEN: it reads the tokens file like the API."""
    env = {k: v for k, v in os.environ.items() if k != "LEGATO_TOKEN"}
    env.update(LEGATO_API_URL=stack.base_url, LEGATO_API_TOKENS_FILE=str(stack.settings.tokens_path), COLUMNS="200")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "legato.cli", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode()


def bearer(stack, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=stack.base_url, timeout=30, headers=headers)


async def test_docs_pages_load_nothing_from_outside(stack):
    """A browser offline gets the whole page: every script, style and icon of /docs and /redoc is
    served by the API itself, and the OpenAPI they read too."""
    async with stack.http() as client:
        for page, kinds in (("/docs", {"javascript", "css", "image"}), ("/redoc", {"javascript", "image"})):
            resp = await client.get(page, headers={"Authorization": ""})  # a browser sends no token
            assert resp.status_code == 200 and "text/html" in resp.headers["content-type"], page
            html = resp.text
            assert "://" not in html, html  # no absolute URL: nothing from a CDN
            assets = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert assets and all(a.startswith("/") for a in assets), assets
            seen = set()
            for asset in assets:
                got = await client.get(asset)
                assert got.status_code == 200 and len(got.content) > 500, (asset, got.status_code)
                seen |= {kind for kind in kinds if kind in got.headers["content-type"]}
            assert seen == kinds, (page, seen)
            spec_url = re.search(r"""(?:url: ?'|spec-url=")([^'"]+)""", html).group(1)
            spec = await client.get(spec_url)
            assert spec.status_code == 200 and spec.json()["info"]["title"] == "Legato"


async def test_metrics_and_readiness_answer_the_operator_only(stack):
    """They describe the whole installation (every tenant's services, the worker, Temporal): a
    tenant's token is refused with 403, no token with 401. /healthz answers any valid token."""
    async with stack.http("alpha") as tenant, bearer(stack, None) as nobody, stack.http("operator") as operator:
        for route in ("/metrics", "/readyz"):
            refused = await tenant.get(route)
            assert refused.status_code == 403 and "operator" in refused.json()["detail"], refused.text
            assert (await nobody.get(route)).status_code == 401
        assert (await tenant.get("/healthz")).json() == {"status": "ok"}
        assert (await nobody.get("/healthz")).status_code == 401
        metrics = await operator.get("/metrics")
        assert metrics.status_code == 200 and "legato_api_requests_total" in metrics.text
        for _ in range(30):  # the worker's first poll may not be registered yet
            ready = await operator.get("/readyz")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.5)
        assert ready.status_code == 200 and ready.json()["ready"], ready.text


async def test_a_tenant_added_while_the_api_runs_is_served_at_once(stack, caplog):
    """`legato tokens add` writes a new token to the tokens file (still 0600) and prints it once;
    the running API accepts it at the next request, and stops accepting it when its line goes."""
    caplog.set_level(logging.INFO)
    path = stack.settings.tokens_path
    code, out = await legato(stack, "tokens", "add", "acme")
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert len(token) >= 32 and out.count(token) == 1 and str(path) in out.replace("\n", ""), out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = yaml.safe_load(path.read_text())["tokens"]
    assert [e["tenant"] for e in entries] == ["gamma", "acme"] and entries[1]["token"] == token

    async with bearer(stack, token) as acme:
        resp = await acme.get("/v1/services")
        assert resp.status_code == 200 and resp.json()["items"] == [], resp.text
        assert (await acme.get("/metrics")).status_code == 403  # a tenant, not an operator
    code, out = await legato(stack, "ls", "--tenant", "acme")  # the CLI finds acme's token in the file
    assert code == 0, out

    code, out = await legato(stack, "tokens", "add", "boss", "--admin")
    assert code == 0, out
    async with bearer(stack, out.strip().splitlines()[-1]) as boss:
        assert (await boss.get("/metrics")).status_code == 200

    code, out = await legato(stack, "tokens", "add", "Not A Name")
    assert code == 2 and "lower-case" in out and "Traceback" not in out, out

    path.write_text("tokens: [\n")  # a file being edited by hand: the tokens read before still work
    async with bearer(stack, token) as acme:
        assert (await acme.get("/v1/services")).status_code == 200
    path.write_text(yaml.safe_dump({"tokens": entries[:1]}))  # acme's line removed: revoked
    async with bearer(stack, token) as acme, bearer(stack, "token-gamma") as gamma:
        assert (await acme.get("/v1/services")).status_code == 401
        assert (await gamma.get("/v1/services")).status_code == 200
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    assert token not in caplog.text and "token-gamma" not in caplog.text  # never logged


def json_lines(path: Path) -> list[dict]:
    """Every line of a log, each required to be one JSON object with a timestamp and a level."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"{path.name}:{number} is not JSON: {line!r}") from None
        assert isinstance(entry, dict) and entry.get("level") and entry.get("message") is not None, line
        datetime.fromisoformat(entry["ts"])
        entries.append(entry)
    return entries


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


CONNECTION_TROUBLE = re.compile(r"connect|transport|unavailable|refused|broken pipe", re.IGNORECASE)


def test_ctrl_c_on_legato_up_stops_api_then_worker_then_temporal(tmp_path):
    """`legato up` as typed, interrupted while a deployment runs: it says what it stops as it stops
    it, in order (API, worker, Temporal), within seconds, exits 0, and the worker, stopped while
    Temporal still answers, logs no connection error. Both logs are JSON lines throughout."""
    api_port, temporal_port, ui_port, metrics_port = free_ports(4)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEGATO_")}
    env.update(LEGATO_DATA_DIR=str(data), LEGATO_TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
               LEGATO_TEMPORAL_UI_PORT=str(ui_port), LEGATO_API_PORT=str(api_port),
               LEGATO_WORKER_METRICS_ADDRESS=f"127.0.0.1:{metrics_port}", LEGATO_SIM_PROFILE="realistic",
               COLUMNS="300")
    proc = subprocess.Popen([sys.executable, "-m", "legato.cli", "up"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), line) for line in proc.stdout))
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("Legato is up" in line for _, line in lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(line for _, line in lines)
            time.sleep(0.2)
        token = {t["tenant"]: t["token"] for t in yaml.safe_load((data / "tokens.yaml").read_text())["tokens"]}
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30,
                          headers={"Authorization": f"Bearer {token['demo']}"}) as client:
            assert client.post("/v1/services", json=example("web-shop")).status_code == 202
            assert client.get("/v1/services/nope").status_code == 404
        time.sleep(1)  # the deployment's first activities are under way
        interrupted = time.monotonic()
        since = datetime.now().astimezone()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        took = time.monotonic() - interrupted
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(10)
    out = "".join(line for _, line in lines)
    assert code == 0, out
    assert took < 25, (took, out)
    steps = [re.search(rf"stopping the {name}\b.*?\.\.\. (stopped|killed)", out)
             for name in ("API", "worker", "Temporal dev server")]
    assert all(steps), out
    assert [m.start() for m in steps] == sorted(m.start() for m in steps), out
    assert all(m.group(1) == "stopped" for m in steps), out
    assert out.rstrip().endswith("stopped."), out
    # each line came out when its part stopped, not all at the end
    stamps = [t for t, line in lines if line.startswith("stopping the ")]
    assert len(stamps) == 3 and stamps[0] - interrupted < 2, (stamps, interrupted)

    api = json_lines(data / "api.log")
    assert any(e["logger"] == "uvicorn.access" and e.get("status") == 404 for e in api), api
    worker = json_lines(data / "worker.log")
    after = [e for e in worker if datetime.fromisoformat(e["ts"]) >= since]
    assert any(e["message"] == "worker stopped" for e in after), after
    trouble = [e for e in after if CONNECTION_TROUBLE.search(json.dumps(e))]
    assert not trouble, trouble


def test_the_temporal_core_logs_as_json_in_the_worker_log(tmp_path):
    """The worker's Temporal core (Rust) reports a lost server through Python logging: a JSON line
    from `temporalio.core` with its target and fields, not a coloured line on stderr."""
    server = DevServer(tmp_path / "temporal.db", port=free_port(), ui_port=None,
                       log_file=tmp_path / "temporal.log").start()
    settings = make_settings(tmp_path / "legato", server.address)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEGATO_")}
    env.update(LEGATO_DATA_DIR=str(settings.data_dir), LEGATO_TEMPORAL_ADDRESS=server.address,
               LEGATO_TASK_QUEUE=settings.task_queue, LEGATO_SIM_PROFILE="instant")
    log = tmp_path / "worker.log"
    with open(log, "ab") as out:
        worker = subprocess.Popen([sys.executable, "-m", "legato.worker"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "polling task queue" not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        server.proc.kill()  # Temporal gone: the core's pollers start failing
        server.proc.wait()
        deadline = time.monotonic() + 60
        while "temporalio.core" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.terminate()
        # with the server gone the worker still stops within legato.worker.SHUTDOWN_BOUND (15 s)
        worker.wait(60)
    entries = json_lines(log)
    core = [e for e in entries if e["logger"] == "temporalio.core"]
    assert core and core[0]["level"] == "warning" and core[0]["target"].startswith("temporal"), entries
    assert "\x1b[" not in log.read_text()  # no colour codes anywhere
    assert entries[-1]["message"] == "worker stopped", entries[-1]
