"""`legato`: run the embedded stack, deploy and inspect services from a terminal."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from legato.config import Settings
from legato.model.charts import inline_values_files, values_of

app = typer.Typer(help="Legato: multi-cloud orchestration for the telco cloud-edge continuum.", no_args_is_help=True)
console = Console()
STEP_MARK = {"running": "…", "done": "✓", "failed": "✗", "compensating": "↶", "compensated": "↶"}
FINAL = {"active", "failed", "terminated"}


def _settings() -> Settings:
    return Settings()


def _token(settings: Settings, tenant: str) -> str:
    if settings.token is not None:
        return settings.token.get_secret_value()
    path = settings.tokens_path
    if path.exists():
        for item in (yaml.safe_load(path.read_text()) or {}).get("tokens", []):
            if item.get("tenant") == tenant:
                return str(item["token"])
    console.print(f"[red]no token: set LEGATO_TOKEN, or run `legato up` to create {path}[/red]")
    raise typer.Exit(2)


def _client(tenant: str) -> httpx.Client:
    settings = _settings()
    return httpx.Client(base_url=settings.api_url, timeout=30,
                        headers={"Authorization": f"Bearer {_token(settings, tenant)}"})


def _call(client: httpx.Client, method: str, path: str, **kw) -> dict:
    try:
        resp = client.request(method, path, **kw)
    except httpx.HTTPError as err:
        console.print(f"[red]cannot reach the Legato API at {client.base_url}: {err}[/red] (is `legato up` running?)")
        raise typer.Exit(2) from None
    if resp.status_code >= 400:
        try:
            body = resp.json()
            detail = body.get("message") or body.get("detail")
        except ValueError:
            detail = resp.text
        console.print(f"[red]{resp.status_code}: {escape(str(detail))}[/red]")
        raise typer.Exit(1)
    return resp.json()


TENANT = typer.Option("demo", "--tenant", help="tenant whose token to use from the tokens file")
OPERATOR = typer.Option("operator", "--tenant", help="an operator's tenant in the tokens file")


@app.command()
def up() -> None:
    """Start Temporal (dev server), the worker, the API and the simulated continuum; Ctrl-C stops all."""
    from legato.embedded import run_embedded

    raise typer.Exit(run_embedded(_settings(), echo=console.print))


@app.command()
def deploy(spec_file: Path = typer.Argument(..., exists=True, readable=True),
           wait: bool = typer.Option(False, "--wait", help="follow progress until active or failed"),
           tenant: str = TENANT) -> None:
    """Deploy a service from a YAML or JSON spec."""
    try:
        spec = yaml.safe_load(spec_file.read_text())
    except yaml.YAMLError as err:
        console.print(f"[red]{spec_file}: not valid YAML: {err}[/red]")
        raise typer.Exit(1) from None
    try:  # a chart's values files are the client's to read, relative to the spec (model/charts.py)
        spec = inline_values_files(spec, spec_file.parent) if isinstance(spec, dict) else spec
    except ValueError as err:
        console.print(f"[red]{spec_file}: {err}[/red]")
        raise typer.Exit(1) from None
    with _client(tenant) as client:
        accepted = _call(client, "POST", "/v1/services", json=spec)
        console.print(f"service [bold]{accepted['id']}[/bold] accepted (workflow {accepted['workflow_id']})")
        if wait:
            _follow(client, accepted["id"], fresh=True)


def _poll(client: httpx.Client, path: str, patience: float = 600) -> dict:
    """GET while following: an API that restarts, or answers 503 for a while (Temporal or the
    database restarting), is waited for, saying so once; the service goes on meanwhile."""
    deadline, told = time.monotonic() + patience, False
    while True:
        try:
            resp = client.get(path)
            if resp.status_code < 500:
                break
            why = f"{resp.status_code}"
        except httpx.HTTPError as err:
            why = type(err).__name__
        if time.monotonic() > deadline:
            console.print(f"[red]gave up following after {patience:g} s without an answer ({why})[/red]")
            raise typer.Exit(2)
        if not told:
            console.print(f"[yellow]the API does not answer ({why}); still following, the work goes on...[/yellow]")
            told = True
        time.sleep(1.0)
    if told:
        console.print("[yellow]the API answers again[/yellow]")
    if resp.status_code >= 400:
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
        console.print(f"[red]{resp.status_code}: {escape(str(body.get('message') or body.get('detail') or resp.text))}"
                      "[/red]")
        raise typer.Exit(1)
    return resp.json()


def _follow(client: httpx.Client, service_id: str, until: set[str] = FINAL, operation: str | None = None,
            fresh: bool = False) -> dict:
    """Print each step as it changes until the service reaches `until` (or the operation ends).
    Unless `fresh` (a deployment just accepted), what already happened is not printed again."""
    seen: dict[str, str] = {}
    state = None
    started = time.monotonic()
    if not fresh:  # an operation or a teardown shows only what it does, not the steps before it
        for step in _poll(client, f"/v1/services/{service_id}").get("steps", []):
            seen[step["name"]] = step["state"]
    while True:
        svc = _poll(client, f"/v1/services/{service_id}")
        if svc["state"] != state:
            state = svc["state"]
            console.print(f"[bold]{time.monotonic() - started:6.1f}s  state: {state}[/bold]")
        for step in svc.get("steps", []):
            if seen.get(step["name"]) != step["state"]:
                seen[step["name"]] = step["state"]
                mark = STEP_MARK.get(step["state"], "?")
                console.print(f"{time.monotonic() - started:6.1f}s    {mark} {escape(step['name']):<34} "
                              f"{step['state']:<12} {escape(step.get('detail') or '')}")
        if operation is not None:
            op = _poll(client, f"/v1/services/{service_id}/operations/{operation}")
            if op["state"] != "running":
                return op
        elif state in until:
            break
        time.sleep(0.5)
    if state == "failed":
        console.print(f"[red]failed: {escape(str(svc.get('error')))}[/red]")
        raise typer.Exit(1)
    if state == "active":
        _endpoints(svc)
    return svc


def _endpoints(svc: dict) -> None:
    """One row per component: where it answers, on every port it opens (the address carries the first)."""
    ports = {c["name"]: c.get("ports") or [] for c in (svc.get("spec") or {}).get("components", [])}
    table = Table(title=f"endpoints of {svc['id']}")
    for col in ("component", "site", "cluster", "address", "ports"):
        table.add_column(col, overflow="fold")
    for e in svc.get("endpoints", []):
        table.add_row(e["component"], e["site"], e["cluster"], e["address"],
                      ", ".join(str(p) for p in ports.get(e["component"], [])))
    console.print(table)


@app.command("ls")
def list_services(tenant: str = TENANT, limit: int = 100, offset: int = 0) -> None:
    """List your services."""
    with _client(tenant) as client:
        page = _call(client, "GET", "/v1/services", params={"limit": limit, "offset": offset})
    table = Table(title=f"services ({page['total']})")
    for col in ("id", "name", "state", "updated"):
        table.add_column(col)
    for s in page["items"]:
        table.add_row(s["id"], s["name"], s["state"], s["updated_at"][:19])
    console.print(table)


def _eras(steps: list[dict]) -> list[list[dict]]:
    """Steps by what they belong to: the deployment, then each day-2 operation (its first step is
    named `<kind>@<component> [<request id>]`)."""
    eras: list[list[dict]] = [[]]
    for step in steps:
        if " [" in step["name"] and step["name"].endswith("]") and eras[-1]:
            eras.append([])
        eras[-1].append(step)
    return eras


def _print_steps(steps: list[dict]) -> None:
    for step in steps:
        console.print(f"  {STEP_MARK.get(step['state'], '?')} {escape(step['name']):<34} {step['state']:<12} "
                      f"{escape(step.get('detail') or '')}")


@app.command()
def status(service_id: str, tenant: str = TENANT,
           as_json: bool = typer.Option(False, "--json", help="print the whole record")) -> None:
    """Show a service: state, what serves now, placement, the latest steps, history, endpoints."""
    with _client(tenant) as client:
        svc = _call(client, "GET", f"/v1/services/{service_id}")
        schedules = [] if as_json else _schedules(client, service_id)
    if as_json:
        sys.stdout.write(json.dumps(svc, indent=2) + "\n")
        return
    console.print(f"[bold]{svc['id']}[/bold] ({svc['name']}, tenant {svc['tenant']}): {svc['state']}")
    if svc.get("error"):
        console.print(f"[red]error: {escape(svc['error'])}[/red]")
    for c in svc.get("components", []):
        serving = "; ".join(f"{s['ready']}/{s['replicas']} ready on {s['cluster']} ("
                            + ", ".join(f"{n}× {v}" for v, n in sorted(s["versions"].items())) + ")"
                            for s in c.get("serving") or [])
        console.print(f"  {c['name']} {c['image']}:{c['version']} ×{c['replicas']} at {c['site']}: "
                      f"{serving or 'serving state unknown'}")
    for p in (svc.get("placement") or {}).get("components", []):
        console.print(f"  {p['component']} → {p['site']} (score {p['score']:.4g}; {escape('; '.join(p['reasons']))})")
        for earlier in p.get("history", []):
            console.print(f"    [dim]history: {escape(earlier)}[/dim]")
    eras = _eras(svc.get("steps", []))
    if len(eras) > 1:
        console.print(f"  [dim]history: {len(eras) - 1} earlier deployment or operation(s), "
                      f"{sum(len(e) for e in eras[:-1])} steps (legato ops {service_id})[/dim]")
    _print_steps(eras[-1])
    if svc.get("endpoints"):
        _endpoints(svc)
    _print_schedules(schedules)


def _schedules(client: httpx.Client, service_id: str) -> list[dict]:
    """The service's schedules (none when they cannot be read: the rest of the status still shows)."""
    try:
        resp = client.get(f"/v1/services/{service_id}/schedules")
    except httpx.HTTPError:
        return []
    return resp.json() if resp.status_code == 200 else []


def _print_schedules(schedules: list[dict]) -> None:
    """Each schedule, what it does and when, and its next runs."""
    if not schedules:
        return
    console.print("  schedules:")
    for s in schedules:
        state = "[yellow]paused[/yellow]" + (f" ({escape(s['note'])})" if s.get("note") else "") if s["paused"] \
            else "next " + (", ".join(_when(t) for t in s["next_runs"][:2]) or "none")
        console.print(f"    {escape(s['name'])}: {escape(s['summary'])}; {state}")


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") + " UTC"


@app.command()
def watch(service_id: str, tenant: str = TENANT) -> None:
    """Re-attach to a service's progress: a deployment or teardown under way until it ends, else the
    day-2 operation running, else its state now."""
    with _client(tenant) as client:
        svc = _poll(client, f"/v1/services/{service_id}")
        console.print(f"[bold]{svc['id']}[/bold]: {svc['state']}")
        _print_steps(_eras(svc.get("steps", []))[-1] if svc.get("steps") else [])
        running = [o for o in _poll(client, f"/v1/services/{service_id}/operations") if o["state"] == "running"
                   and o["kind"] not in ("deploy", "terminate")]
        if svc["state"] not in FINAL:
            _follow(client, service_id, until=FINAL | {"terminated"})
        elif running:
            op = _follow(client, service_id, operation=running[0]["request_id"])
            console.print(f"{op['kind']} {op['state']}: {escape(op['detail'])}")


@app.command()
def rm(service_id: str, tenant: str = TENANT,
       wait: bool = typer.Option(False, "--wait", help="wait until everything is removed")) -> None:
    """Remove a service: tear down links, workloads, clusters and hosts it holds."""
    with _client(tenant) as client:
        _call(client, "DELETE", f"/v1/services/{service_id}")
        console.print(f"service {service_id}: terminating")
        if wait:
            _follow(client, service_id, until={"terminated", "failed"})
            console.print(f"service {service_id}: terminated")


def _operate(service_id: str, path: str, body: dict, tenant: str, method: str = "POST") -> None:
    """Start a day-2 operation, follow its steps, and end with its outcome (exit 1 unless it succeeded)."""
    with _client(tenant) as client:
        started = _call(client, method, f"/v1/services/{service_id}{path}", json=body, params={"wait": False})
        rid = started["request_id"]
        console.print(f"operation {rid} started on {service_id}")
        op = _follow(client, service_id, operation=rid)
    if op["state"] == "waiting":  # held by the service until its maintenance window opens
        console.print(f"[yellow]{op['kind']} {escape(op['detail'])}[/yellow]; follow it with "
                      f"`legato ops {service_id}`")
        return
    colour = "green" if op["state"] == "succeeded" else "red"
    console.print(f"[{colour}]{op['kind']} {op['state']}[/{colour}] in {op.get('duration_seconds') or 0:.1f}s: "
                  f"{escape(op['detail'])}")
    if op["state"] != "succeeded":
        raise typer.Exit(1)


DEADLINE = typer.Option(None, "--deadline", help="seconds the new replicas may take to become ready before the "
                        "operation undoes itself (default: the service's progress_deadline_seconds)")


def _with_deadline(body: dict, deadline: float | None) -> dict:
    return body if deadline is None else {**body, "progress_deadline_seconds": deadline}


OUTSIDE_WINDOW = typer.Option(None, "--outside-window", help="outside the maintenance windows: wait for the next "
                              "one (the default) or refuse")


@app.command()
def scale(service_id: str, component: str, replicas: int, tenant: str = TENANT, deadline: float = DEADLINE) -> None:
    """Scale a component to N replicas (its cluster grows first if it must)."""
    _operate(service_id, f"/components/{component}/scale", _with_deadline({"replicas": replicas}, deadline), tenant)


@app.command()
def upgrade(service_id: str, component: str, version: str, tenant: str = TENANT,
            image: str = typer.Option(None, help="new image (default: the same)"),
            canary: bool = typer.Option(False, "--canary", help="canary first, then a health gate"),
            canary_replicas: int = 1, max_error_rate: float = 0.05, observe_seconds: float = 10,
            deadline: float = DEADLINE, outside_window: str = OUTSIDE_WINDOW,
            values: list[Path] = typer.Option(None, "--values", "-f", help="a chart component's new values: a "
                                              "YAML file (repeatable, merged in order)"),
            set_values: list[str] = typer.Option(None, "--set", help="a chart's value PATH=VALUE (dotted path, the "
                                                 "value read as YAML; repeatable, after --values)")) -> None:
    """Roll out a new version: rolling by default (never fewer ready replicas), or canary. A chart
    component takes new values too (merged over its chart's); the same VERSION changes the values only."""
    try:
        new_values = values_of(values or [], set_values or [])
    except ValueError as err:
        console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(2) from None
    body = {"version": version, "image": image, "values": new_values, "strategy": "canary" if canary else "rolling",
            "canary": {"replicas": canary_replicas, "max_error_rate": max_error_rate,
                       "observe_seconds": observe_seconds}, "progress_deadline_seconds": deadline,
            "outside_window": outside_window}
    _operate(service_id, f"/components/{component}/upgrade", {k: v for k, v in body.items() if v is not None},
             tenant)


@app.command()
def move(service_id: str, component: str, tenant: str = TENANT,
         site: str = typer.Option(None, help="target site"),
         tier: list[str] = typer.Option(None, help="allowed tiers; placement chooses (repeatable)"),
         avoid: list[str] = typer.Option(None, help="sites to avoid; placement chooses (repeatable)"),
         deadline: float = DEADLINE, outside_window: str = OUTSIDE_WINDOW) -> None:
    """Move a component, make-before-break: to a site, or by new placement rules."""
    body: dict = {"site": site} if site else {}
    if outside_window:
        body["outside_window"] = outside_window
    if tier or avoid:
        body["placement"] = {"tiers": tier or None, "avoid_sites": avoid or []}
    _operate(service_id, f"/components/{component}/move", _with_deadline(body, deadline), tenant)


@app.command()
def ops(service_id: str, tenant: str = TENANT) -> None:
    """The operations log of a service: who asked what, when, how it ended, how it served meanwhile."""
    with _client(tenant) as client:
        rows = _call(client, "GET", f"/v1/services/{service_id}/operations")
    table = Table(title=f"operations of {service_id}")
    for col in ("request", "kind", "component", "by", "state", "started", "seconds", "serving", "detail"):
        table.add_column(col, overflow="fold")
    for o in rows:
        table.add_row(o["request_id"], o["kind"], o["component"] or "", o["requested_by"], o["state"],
                      (o["started_at"] or "")[:19], f"{o['duration_seconds'] or 0:.1f}",
                      _continuity(o.get("continuity")), o["detail"])
    console.print(table)


def _continuity(c: dict | None) -> str:
    """`≥2 of 2→5` (the fewest ready replicas while it ran, of those before → after), the users'
    path, and whether it was measured exactly (history) or sampled."""
    if not c:
        return ""
    path = {True: ", path kept", False: ", path broken", None: ""}[c.get("path_connected")]
    return f"≥{c['min_ready']} of {c['replicas_before']}→{c['replicas_after']}{path} ({c['measured']})"


@app.command()
def proposals(tenant: str = TENANT, state: str = typer.Option("pending", help="pending, done, ... or all")) -> None:
    """The rebalancer's proposed moves."""
    params = {} if state == "all" else {"state": state}
    with _client(tenant) as client:
        page = _call(client, "GET", "/v1/proposals", params=params)
    table = Table(title=f"proposals ({state})")
    for col in ("id", "service", "component", "from", "to", "gain", "state", "reason"):
        table.add_column(col, overflow="fold")
    for p in page["items"]:
        table.add_row(p["id"], p["service_id"], p["component"], p["from_site"], p["to_site"], f"{p['gain']:.0%}",
                      p["state"], p["detail"] or p["reason"])
    console.print(table)


@app.command()
def approve(proposal_id: str, tenant: str = TENANT) -> None:
    """Carry a proposed move out; returns when the move ends."""
    with _client(tenant) as client:
        done = _call(client, "POST", f"/v1/proposals/{proposal_id}/approve", params={"timeout": 3600}, timeout=None)
    console.print(f"{done['component']}: {done['from_site']} → {done['to_site']}: {done['state']} {done['detail']}")


schedule_app = typer.Typer(help="Schedules of day-2 operations on a service: each a Temporal Schedule (the Web "
                           "UI's Schedules page shows them as <tenant>:<service>:<name>).", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


def _pair(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        console.print(f"[red]{option}: give COMPONENT=VALUE, not '{text}'[/red]")
        raise typer.Exit(2)
    return key, value


def _scheduled_operation(scale: str | None, upgrade: str | None, canary: bool, move: str | None,
                         labels: str | None, operation: str | None) -> dict:
    given = [o for o in (scale, upgrade, move, labels, operation) if o]
    if len(given) != 1:
        console.print("[red]give one operation: --scale, --upgrade, --move, --labels or --operation[/red]")
        raise typer.Exit(2)
    if scale:
        component, replicas = _pair(scale, "--scale")
        return {"kind": "scale", "component": component, "scale": {"replicas": replicas}}
    if upgrade:
        component, version = _pair(upgrade, "--upgrade")
        return {"kind": "upgrade", "component": component,
                "upgrade": {"version": version, "strategy": "canary" if canary else "rolling"}}
    if move:
        component, site = _pair(move, "--move")
        return {"kind": "move", "component": component, "move": {"site": site}}
    if labels:
        return {"kind": "update", "update": {"labels": dict(_pair(kv, "--labels") for kv in labels.split(","))}}
    try:
        return json.loads(operation)
    except ValueError as err:
        console.print(f"[red]--operation: not JSON: {err}[/red]")
        raise typer.Exit(2) from None


def _recurrence(cron: str | None, calendar: str | None, tz: str) -> dict:
    if bool(cron) == bool(calendar):
        console.print("[red]give --cron or --calendar (one of the two)[/red]")
        raise typer.Exit(2)
    if cron:
        return {"cron": cron, "time_zone": tz}
    try:
        entries = json.loads(calendar)
    except ValueError as err:
        console.print(f"[red]--calendar: not JSON: {err}[/red]")
        raise typer.Exit(2) from None
    return {"calendar": entries if isinstance(entries, list) else [entries], "time_zone": tz}


CRON = typer.Option(None, "--cron", help="cron expression, e.g. '0 22 * * *' (Temporal's: 5, 6 or 7 fields)")
CALENDAR = typer.Option(None, "--calendar", help='calendar entry as JSON, e.g. \'{"hour": 6, "day_of_week": '
                        '"mon-fri"}\' (or a list of them)')
TZ = typer.Option("UTC", "--tz", help="IANA time zone the times are read in, e.g. Europe/Paris")


@schedule_app.command("add")
def schedule_add(service_id: str, name: str, cron: str = CRON, calendar: str = CALENDAR, tz: str = TZ,
                 scale: str = typer.Option(None, "--scale", help="COMPONENT=REPLICAS"),
                 upgrade: str = typer.Option(None, "--upgrade", help="COMPONENT=VERSION (rolling; --canary)"),
                 canary: bool = typer.Option(False, "--canary", help="with --upgrade: canary first"),
                 move: str = typer.Option(None, "--move", help="COMPONENT=SITE"),
                 labels: str = typer.Option(None, "--labels", help="k=v,k2=v2: update the service's labels"),
                 operation: str = typer.Option(None, "--operation", help="the operation as JSON: "
                                               '{"kind": "scale", "component": "api", "scale": {"replicas": 1}}'),
                 start: str = typer.Option(None, "--start", help="no run before (ISO 8601, with its offset)"),
                 end: str = typer.Option(None, "--end", help="no run after (ISO 8601, with its offset)"),
                 jitter: float = typer.Option(0, "--jitter", help="seconds each run may start late, at random"),
                 catchup: float = typer.Option(3600, "--catchup", help="seconds a missed run may still start late"),
                 overlap: str = typer.Option("buffer_all", "--overlap", help="buffer_all, buffer_one or skip"),
                 busy_retry: float = typer.Option(600, "--busy-retry", help="seconds to retry a busy service"),
                 outside_window: str = typer.Option("wait", "--outside-window", help="an upgrade or move due "
                                                    "outside the maintenance windows: wait or refuse (skip)"),
                 paused: bool = typer.Option(False, "--paused", help="created paused"),
                 description: str = typer.Option("", "--description"), tenant: str = TENANT) -> None:
    """Schedule a day-2 operation on a service (cron or calendar, in a time zone)."""
    body = {"name": name, "description": description, **_recurrence(cron, calendar, tz),
            "operation": _scheduled_operation(scale, upgrade, canary, move, labels, operation),
            "jitter_seconds": jitter, "catchup_window_seconds": catchup, "overlap": overlap,
            "busy_retry_seconds": busy_retry, "outside_window": outside_window, "paused": paused,
            **({"start_at": start} if start else {}), **({"end_at": end} if end else {})}
    with _client(tenant) as client:
        made = _call(client, "POST", f"/v1/services/{service_id}/schedules", json=body)
    console.print(f"schedule [bold]{escape(made['name'])}[/bold] of {service_id}: {escape(made['summary'])}")
    console.print(f"  Temporal Schedule {escape(made['schedule_id'])}; next runs: "
                  + (", ".join(_when(t) for t in made["next_runs"][:3]) or "none"))


@schedule_app.command("ls")
def schedule_ls(service_id: str, tenant: str = TENANT) -> None:
    """A service's schedules: what each does, when, its next runs."""
    with _client(tenant) as client:
        found = _call(client, "GET", f"/v1/services/{service_id}/schedules")
    table = Table(title=f"schedules of {service_id}")
    for col in ("name", "what and when", "state", "next runs", "last run"):
        table.add_column(col, overflow="fold")
    for s in found:
        state = "paused" + (f": {s['note']}" if s.get("note") else "") if s["paused"] else "active"
        last = s["recent_runs"][-1]["scheduled_at"] if s["recent_runs"] else ""
        table.add_row(s["name"], s["summary"], state, ", ".join(_when(t) for t in s["next_runs"][:3]),
                      _when(last) if last else "")
    console.print(table)


def _set_paused(service_id: str, name: str, paused: bool, note: str, tenant: str) -> None:
    with _client(tenant) as client:
        done = _call(client, "PATCH", f"/v1/services/{service_id}/schedules/{name}",
                     json={"paused": paused, "note": note})
    console.print(f"schedule {escape(done['name'])} of {service_id}: {'paused' if done['paused'] else 'active'}")


@schedule_app.command("pause")
def schedule_pause(service_id: str, name: str, note: str = typer.Option("", "--note", help="why (the Web UI shows "
                   "it)"), tenant: str = TENANT) -> None:
    """Pause a schedule: no run until it is resumed (runs due meanwhile are not caught up)."""
    _set_paused(service_id, name, True, note, tenant)


@schedule_app.command("resume")
def schedule_resume(service_id: str, name: str, tenant: str = TENANT) -> None:
    """Resume a paused schedule."""
    _set_paused(service_id, name, False, "", tenant)


@schedule_app.command("rm")
def schedule_rm(service_id: str, name: str, tenant: str = TENANT) -> None:
    """Remove a schedule."""
    with _client(tenant) as client:
        try:
            resp = client.delete(f"/v1/services/{service_id}/schedules/{name}")
        except httpx.HTTPError as err:
            console.print(f"[red]cannot reach the Legato API at {client.base_url}: {err}[/red]")
            raise typer.Exit(2) from None
    if resp.status_code != 204:
        console.print(f"[red]{resp.status_code}: {escape(str(resp.json().get('message')))}[/red]")
        raise typer.Exit(1)
    console.print(f"schedule {name} of {service_id}: removed")


window_app = typer.Typer(help="Maintenance windows: when upgrades, moves and a cluster's scale-in may run (a "
                         "service's, or an operator's for a site or a cluster).", no_args_is_help=True)
app.add_typer(window_app, name="window")


def _windows_path(service_id: str | None, site: str | None, cluster: str | None) -> str:
    given = [(kind, target) for kind, target in (("services", service_id), ("sites", site), ("clusters", cluster))
             if target]
    if len(given) != 1:
        console.print("[red]give a service id, or --site, or --cluster (one of them)[/red]")
        raise typer.Exit(2)
    kind, target = given[0]
    return f"/v1/{kind}/{target}/maintenance-windows"


SITE = typer.Option(None, "--site", help="a site's windows (operator)")
CLUSTER = typer.Option(None, "--cluster", help="a cluster's windows (operator)")
WINDOW_OF = typer.Argument(None, help="the service (or give --site / --cluster)")


@window_app.command("add")
def window_add(service_id: str = WINDOW_OF, site: str = SITE, cluster: str = CLUSTER, cron: str = CRON,
               calendar: str = CALENDAR, tz: str = TZ,
               duration: int = typer.Option(..., "--duration", help="minutes each window stays open"),
               name: str = typer.Option("", "--name"), tenant: str = TENANT) -> None:
    """Add a maintenance window: it opens at each time of the recurrence, for --duration minutes."""
    path = _windows_path(service_id, site, cluster)
    with _client(tenant) as client:
        current = _call(client, "GET", path)["windows"]
        window = {"name": name, **_recurrence(cron, calendar, tz), "duration_minutes": duration}
        done = _call(client, "PUT", path, json={"windows": [*current, window]})
    _print_windows(done)


@window_app.command("ls")
def window_ls(service_id: str = WINDOW_OF, site: str = SITE, cluster: str = CLUSTER, tenant: str = TENANT) -> None:
    """The maintenance windows of a service, a site or a cluster, and when the next opens."""
    with _client(tenant) as client:
        _print_windows(_call(client, "GET", _windows_path(service_id, site, cluster)))


@window_app.command("clear")
def window_clear(service_id: str = WINDOW_OF, site: str = SITE, cluster: str = CLUSTER, tenant: str = TENANT) -> None:
    """Remove every maintenance window of a service, a site or a cluster (no restriction any more)."""
    with _client(tenant) as client:
        _print_windows(_call(client, "PUT", _windows_path(service_id, site, cluster), json={"windows": []}))


def _print_windows(found: dict) -> None:
    console.print(f"maintenance windows of {found['scope']} {escape(found['target'])}: "
                  + (f"{len(found['windows'])}" if found["windows"] else "none (no restriction)"))
    for w in found["windows"]:
        when = f"cron {w['cron']}" if w.get("cron") else f"calendar {json.dumps(w['calendar'])}"
        console.print(f"  {escape(w.get('name') or '-')}: {escape(when)} ({w.get('time_zone', 'UTC')}), "
                      f"{w['duration_minutes']} min")
    if found.get("open_until"):
        console.print(f"  open now, until {_when(found['open_until'])}")
    elif found.get("next_opening"):
        console.print(f"  next opens {_when(found['next_opening'])}")


@app.command()
def worker() -> None:
    """Run only the worker (when Temporal and the API run elsewhere)."""
    from legato.worker import main

    main()


tokens_app = typer.Typer(help="Tenants and their API tokens (the tokens file; the API follows it as it changes).",
                         no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("add")
def tokens_add(tenant: str, admin: bool = typer.Option(False, "--admin", help="sees every tenant, like `operator`")
               ) -> None:
    """Give a tenant a new token, printed once; the running API accepts it at once (no restart)."""
    from legato.api.auth import add_token

    path = _settings().tokens_path
    try:
        token = add_token(path, tenant, admin)
    except ValueError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    console.print(f"tenant {tenant}{' (admin)' if admin else ''}: token added to {path}; it is shown only now:",
                  highlight=False)
    print(token)


cluster_app = typer.Typer(help="Clusters, as an operator acts on them (an operator's token).", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("upgrade")
def cluster_upgrade(cluster_id: str, version: str = typer.Argument(..., help="e.g. v1.35.4: the next minor, or a "
                                                                    "later patch of the cluster's own"),
                    request_id: str = typer.Option(None, "--request-id", help="the same id again resumes or shows "
                                                   "the same upgrade"),
                    follow: bool = typer.Option(True, "--follow/--no-follow", help="print each step until it ends"),
                    service: str = typer.Option(None, "--service", help="a cluster of this service's own, upgraded as "
                                                "one of its operations (its tenant's token, its maintenance windows)"),
                    outside_window: str = OUTSIDE_WINDOW,
                    tenant: str = typer.Option(None, "--tenant", help="whose token: an operator's (the default), or "
                                               "with --service the service's tenant (default demo)")) -> None:
    """Move a cluster's Kubernetes version one step up: the control plane, then each node drained
    make-before-break and replaced. Exit 1 if refused or if the roll stops (it says where)."""
    body = {"version": version} | ({"request_id": request_id} if request_id else {})
    if service:
        body |= {"outside_window": outside_window} if outside_window else {}
        _operate(service, f"/clusters/{cluster_id}/upgrade", body, tenant or "demo")
        return
    with _client(tenant or "operator") as client:
        status = _call(client, "POST", f"/v1/clusters/{cluster_id}/upgrade", json=body, timeout=180)
        console.print(f"upgrade {status['request_id']} of {escape(cluster_id)} to {status['version']} "
                      f"(workflow {escape(status['workflow_id'])})", highlight=False)
        seen: dict[str, str] = {}
        while True:
            for step in status.get("steps", []):
                if seen.get(step["name"]) != step["state"]:
                    seen[step["name"]] = step["state"]
                    _print_steps([step])
            if status["state"] != "running" or not follow:
                break
            time.sleep(1)
            status = _poll(client, f"/v1/clusters/{cluster_id}/upgrades/{status['request_id']}")
    if status["state"] == "failed":
        console.print(f"[red]{escape(str(status.get('error')))}[/red]")
        raise typer.Exit(1)
    if status["state"] == "done":
        result = status.get("result") or {}
        console.print(f"[green]{escape(cluster_id)}: {result.get('from_version')} -> {result.get('version')}; "
                      f"nodes replaced: {', '.join(result.get('nodes') or []) or 'none'}[/green]")


autopilot_app = typer.Typer(help="The autopilot's bounds: the operator's policy on automatic action.",
                            no_args_is_help=True)
app.add_typer(autopilot_app, name="autopilot")
policy_app = typer.Typer(help="Show the operator's autopilot policy (or, with --service, the bounds on one service); "
                         "`set` changes it (operator).", invoke_without_command=True)
autopilot_app.add_typer(policy_app, name="policy")
POLICY = "/v1/autopilot/policy"


@policy_app.callback()
def autopilot_policy(ctx: typer.Context, tenant: str = TENANT,
                     service: str = typer.Option(None, "--service", help="the bounds on this service: the "
                                                 "operator's, made stricter by its spec")) -> None:
    """Show the autopilot policy."""
    if ctx.invoked_subcommand is not None:
        return
    with _client(tenant) as client:
        _print_policy(_call(client, "GET", f"/v1/services/{service}/autopilot" if service else POLICY))


def _listed(text: str, none_word: str) -> list[str] | None:
    return None if text == none_word else [x.strip() for x in text.split(",") if x.strip()]


def _cost(text: str) -> float | None:
    if text == "none":
        return None
    try:
        return float(text)
    except ValueError:
        console.print(f"[red]--max-cost-per-hour: a number, or none (got {escape(text)})[/red]")
        raise typer.Exit(2) from None


@policy_app.command("set")
def autopilot_policy_set(
    enabled: bool = typer.Option(None, "--enabled/--disabled", help="the autopilot acts (or proposes) at all"),
    approval: str = typer.Option(None, "--approval", help="auto (act and record) or approve (propose; act once "
                                 "approved)"),
    actions: str = typer.Option(None, "--actions", help="kinds allowed, e.g. scale,heal (of scale, move, "
                                "grow-cluster, heal)"),
    max_replicas: int = typer.Option(None, "--max-replicas", help="the most replicas of any one component"),
    max_cost: str = typer.Option(None, "--max-cost-per-hour", help="per service; none: no bound"),
    sites: str = typer.Option(None, "--allowed-sites", help="site ids, comma-separated, where it may place; any: "
                              "every site"),
    cooldown: float = typer.Option(None, "--cooldown", help="seconds after an action on a service before another"),
    per_hour: int = typer.Option(None, "--max-actions-per-hour", help="per service"),
    confirm: float = typer.Option(None, "--confirm", help="seconds a failure must last before healing acts"),
    tenant: str = OPERATOR,
) -> None:
    """Change the operator's autopilot policy: the fields given, the others as they are (operator)."""
    given = {"enabled": enabled, "approval": approval, "max_replicas": max_replicas, "cooldown_seconds": cooldown,
             "max_actions_per_hour": per_hour, "confirm_seconds": confirm}
    changes = {k: v for k, v in given.items() if v is not None}
    if actions is not None:
        changes["actions"] = _listed(actions, "none") or []
    if max_cost is not None:
        changes["max_cost_per_hour"] = _cost(max_cost)
    if sites is not None:
        changes["allowed_sites"] = _listed(sites, "any")
    with _client(tenant) as client:
        current = _call(client, "GET", POLICY)
        current.pop("updated_by", None), current.pop("updated_at", None)
        _print_policy(_call(client, "PUT", POLICY, json={**current, **changes}))


def _print_policy(policy: dict) -> None:
    table = Table("bound", "value", show_header=False, box=None)
    sites, cost = policy["allowed_sites"], policy["max_cost_per_hour"]
    shown = {**policy, "actions": ", ".join(policy["actions"]) or "none",
             "allowed_sites": "any" if sites is None else ", ".join(sites) or "none (scaling in place only)",
             "max_cost_per_hour": "none" if cost is None else f"{cost:g}"}
    for key in ("enabled", "approval", "actions", "max_replicas", "max_cost_per_hour", "allowed_sites",
                "cooldown_seconds", "max_actions_per_hour", "confirm_seconds"):
        table.add_row(key, escape(str(shown[key])))
    console.print(table)
    if policy.get("stricter_by_service"):
        console.print(f"made stricter by the service's spec: {', '.join(policy['stricter_by_service'])}")
    elif "updated_by" in policy:
        console.print(f"set by {policy['updated_by']} at {_when(policy['updated_at'])}" if policy["updated_by"]
                      else "never set: the defaults")


sim_app = typer.Typer(help="The simulator's control surface, for demos and rehearsals (operator's token).",
                      no_args_is_help=True)
app.add_typer(sim_app, name="sim")


def _sim(path: str, body: dict, tenant: str) -> None:
    with _client(tenant) as client:
        console.print(_call(client, "POST", f"/v1/sim/{path}", json=body)["message"])


@sim_app.command("error-rate")
def sim_error_rate(version: str, rate: float, tenant: str = OPERATOR) -> None:
    """Replicas of VERSION fail RATE (0..1) of their requests: a canary of it fails its gate."""
    _sim("error-rate", {"version": version, "rate": rate}, tenant)


@sim_app.command("never-ready")
def sim_never_ready(version: str, off: bool = typer.Option(False, "--off", help="ready as usual again"),
                    tenant: str = OPERATOR) -> None:
    """Replicas of VERSION started from now on never become ready: an operation rolling it out
    ends at its progress deadline and undoes itself."""
    _sim("never-ready", {"version": version, "never": not off}, tenant)


@sim_app.command("fail-host")
def sim_fail_host(host: str, tenant: str = OPERATOR) -> None:
    """HOST dies: powered off, every replica on it stopped."""
    _sim("fail-host", {"host": host}, tenant)


@sim_app.command("fail-node")
def sim_fail_node(host: str, tenant: str = OPERATOR) -> None:
    """HOST's node goes NotReady (its kubelet stopped; the host stays on): its replicas stop."""
    _sim("fail-node", {"host": host}, tenant)


@sim_app.command("recover-host")
def sim_recover_host(host: str, tenant: str = OPERATOR) -> None:
    """HOST (or its NotReady node) is back: powered on, Ready, schedulable again (empty)."""
    _sim("recover-host", {"host": host}, tenant)


@sim_app.command("fail-cluster")
def sim_fail_cluster(cluster: str, tenant: str = OPERATOR) -> None:
    """CLUSTER's API stops answering and its pods stop."""
    _sim("fail-cluster", {"cluster": cluster}, tenant)


@sim_app.command("recover-cluster")
def sim_recover_cluster(cluster: str, tenant: str = OPERATOR) -> None:
    """CLUSTER's API answers again (its stopped pods are not restarted)."""
    _sim("recover-cluster", {"cluster": cluster}, tenant)


@sim_app.command("fail-site")
def sim_fail_site(site: str, tenant: str = OPERATOR) -> None:
    """SITE loses power: every host of it fails."""
    _sim("fail-site", {"site": site}, tenant)


@sim_app.command("load")
def sim_load(tenant: str = OPERATOR) -> None:
    """The users' load model: sim time now, compression, daily curves, flash crowds, shifts."""
    with _client(tenant) as client:
        console.print_json(data=_call(client, "GET", "/v1/sim/load"))


@sim_app.command("curve")
def sim_curve(area: str, amplitude: float, peak_hour: float,
              clock: str = typer.Option("local", help="local (the area's mean solar time) or utc"),
              tenant: str = OPERATOR) -> None:
    """AREA's users follow a daily curve: (1 +/- AMPLITUDE) x their declared demand, peaking at PEAK_HOUR."""
    _sim("load/daily-curve", {"area": area, "amplitude": amplitude, "peak_hour": peak_hour, "clock": clock}, tenant)


@sim_app.command("flash-crowd")
def sim_flash_crowd(area: str, multiplier: float, duration: float = typer.Option(..., help="sim seconds"),
                    start: str = typer.Option(..., help="sim time, ISO 8601 (UTC when no zone)"),
                    tenant: str = OPERATOR) -> None:
    """AREA's demand is MULTIPLIER times as high for DURATION from START."""
    _sim("load/flash-crowd", {"area": area, "multiplier": multiplier, "duration_seconds": duration,
                              "start": start}, tenant)


@sim_app.command("shift")
def sim_shift(from_area: str, to_area: str, share: float, duration: float = typer.Option(0, help="sim seconds"),
              start: str = typer.Option(..., help="sim time, ISO 8601 (UTC when no zone)"),
              tenant: str = OPERATOR) -> None:
    """SHARE (0..1) of FROM_AREA's users move to TO_AREA over DURATION from START, and stay."""
    _sim("load/shift", {"from_area": from_area, "to_area": to_area, "share": share, "duration_seconds": duration,
                        "start": start}, tenant)


@sim_app.command("compress")
def sim_compress(factor: float, start: str | None = typer.Option(None, help="the sim time now, ISO 8601 "
                                                                 "(default: carry on)"),
                 tenant: str = OPERATOR) -> None:
    """Sim time runs FACTOR times the real clock (1440: a day a minute)."""
    _sim("load/compression", {"factor": factor, "start": start}, tenant)


@sim_app.command("request-cost")
def sim_request_cost(service: str, component: str, cpu_seconds: float, tenant: str = OPERATOR) -> None:
    """A request to COMPONENT of SERVICE takes CPU_SECONDS (default 0.01)."""
    _sim("load/request-cost", {"service_id": service, "component": component, "cpu_seconds": cpu_seconds}, tenant)


@sim_app.command("load-clear")
def sim_load_clear(tenant: str = OPERATOR) -> None:
    """No curves, flash crowds, shifts or request costs; sim time is the real clock again."""
    _sim("load/clear", {}, tenant)


@sim_app.command("clear")
def sim_clear(tenant: str = OPERATOR) -> None:
    """Clear every injected fault, error rate and never-ready version."""
    _sim("clear", {}, tenant)


if __name__ == "__main__":
    app()
