"""Load a continuum topology from YAML into a validated `Topology` (the type lives in legato.model).

The topology is the ground truth the simulator, the inventory and placement start from, so every
mistake in it is reported with the file and the entry path (`sites[3] (id 'x').hosts[1].cpu`),
all at once, instead of surfacing later as an unplaceable service.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from legato.model import KNOWN_FEATURES, Cluster, Host, Site, Tier, Topology, UserAreaDef
from legato.model.continuum import LatencyModel, great_circle_km, region_pair  # noqa: F401 (re-exported)

DEFAULT_PER_100KM_MS = 1.0
DEFAULT_ACCESS_MS = {Tier.far_edge: 1.0, Tier.edge: 2.0, Tier.regional: 4.0, Tier.cloud: 8.0}
DEFAULT_BANDWIDTH_MBPS = 10000.0
DENSE_MAX_SITES = 500  # beyond, only measured pairs are stored; the rest comes from the model

TOP_KEYS = {"areas", "sites", "latency", "bandwidth"}
SITE_KEYS = set(Site.model_fields) | {"host_groups"}
HOST_KEYS = {"id", "cpu", "memory_mb", "gpu", "features"}
GROUP_KEYS = {"prefix", "count", "cpu", "memory_mb", "gpu", "features"}
CLUSTER_KEYS = {"id", "hosts", "kubernetes_version"}
LATENCY_KEYS = {"per_100km_ms", "access_ms", "sites", "areas"}
BANDWIDTH_KEYS = {"default_mbps", "regions", "sites"}


class TopologyError(ValueError):
    """A topology a human must fix; `problems` lists every bad entry, one line each."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class _Problems:
    """Collects problems so one run of the loader reports all of them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}" if path else message)

    def validate(self, model: type[BaseModel], data: dict[str, Any], path: str) -> Any | None:
        """Build `model` from `data`; on failure record each pydantic error under `path`."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
                self.add(path + loc, _reword(err))
            return None


def _reword(err: Any) -> str:
    if err["type"] == "missing":
        return "missing required key"
    if err["type"] == "extra_forbidden":
        return "unknown key"
    got = repr(err.get("input"))
    return f"{err['msg'][:1].lower()}{err['msg'][1:]} (got {got if len(got) <= 80 else got[:77] + '...'})"


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology YAML file."""
    path = Path(path)
    source = path.name
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise TopologyError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise TopologyError(source, [f"not valid YAML: {exc}"]) from None
    return parse_topology(data, source)


def parse_topology(data: Any, source: str = "<topology>") -> Topology:
    """Validate an already-parsed topology document; raise TopologyError naming each bad entry."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise TopologyError(source, ["the document must be a mapping with at least 'sites'"])
    # Top-level `x-...` keys are ignored, as in compose files: a place for YAML anchors.
    _check_keys(problems, {k: v for k, v in data.items() if not str(k).startswith("x-")}, TOP_KEYS, "")
    if not data.get("sites"):
        problems.add("sites", "missing required key (a non-empty list of sites)")

    areas = _parse_areas(problems, data.get("areas") or [])
    sites, declared = _parse_sites(problems, data.get("sites") or [])
    latency_cfg = _as_dict(problems, data.get("latency") or {}, "latency")
    bandwidth_cfg = _as_dict(problems, data.get("bandwidth") or {}, "bandwidth")
    _check_keys(problems, latency_cfg, LATENCY_KEYS, "latency")
    _check_keys(problems, bandwidth_cfg, BANDWIDTH_KEYS, "bandwidth")
    per_100km, access = _latency_params(problems, latency_cfg)
    regions = {e["region"] for e in data.get("sites") or [] if isinstance(e, dict) and isinstance(e.get("region"), str)}
    site_overrides = _pair_overrides(problems, latency_cfg.get("sites"), "latency.sites", "ms", declared)
    area_overrides = _area_overrides(problems, latency_cfg.get("areas"), set(areas), declared)
    default_mbps = _number(problems, bandwidth_cfg, "default_mbps", DEFAULT_BANDWIDTH_MBPS, "bandwidth", True)
    bw_overrides = _pair_overrides(problems, bandwidth_cfg.get("sites"), "bandwidth.sites", "mbps", declared)
    bw_regions = _pair_overrides(problems, bandwidth_cfg.get("regions"), "bandwidth.regions", "mbps", regions, "region")
    if problems.items:
        raise TopologyError(source, problems.items)

    model = LatencyModel(per_100km_ms=per_100km, access_ms=access, default_mbps=default_mbps,
                         region_mbps={region_pair(*sorted(pair)): v for pair, v in bw_regions.items()})
    if len(sites) <= DENSE_MAX_SITES:
        return _dense(sites, areas, model, site_overrides, area_overrides, bw_overrides)
    site_latency: dict[str, dict[str, float]] = {}
    bandwidth: dict[str, dict[str, float]] = {}
    for matrix, overrides in ((site_latency, site_overrides), (bandwidth, bw_overrides)):
        for pair, value in overrides.items():
            a, b = sorted(pair)
            matrix.setdefault(a, {})[b] = matrix.setdefault(b, {})[a] = value
    area_latency: dict[str, dict[str, float]] = {}
    for (aid, sid), ms in area_overrides.items():
        area_latency.setdefault(aid, {})[sid] = ms
    return Topology(sites=sites, areas=areas, site_latency_ms=site_latency, area_latency_ms=area_latency,
                    site_bandwidth_mbps=bandwidth, model=model)


def _dense(sites: dict[str, Site], areas: dict[str, UserAreaDef], model: LatencyModel,
           site_overrides: dict, area_overrides: dict, bw_overrides: dict) -> Topology:
    """Every pair, rounded to 0.1 ms, as an operator reads them: a small continuum's matrices."""
    site_latency: dict[str, dict[str, float]] = {a: {} for a in sites}
    bandwidth: dict[str, dict[str, float]] = {a: {} for a in sites}
    for a, sa in sites.items():
        for b, sb in sites.items():
            pair = frozenset((a, b))
            site_latency[a][b] = 0.0 if a == b else round(site_overrides.get(pair, model.between(sa, sb)), 1)
            if a != b:
                bandwidth[a][b] = bw_overrides.get(pair, model.bandwidth(sa, sb))
    area_latency = {
        aid: {sid: round(area_overrides.get((aid, sid), model.to_place(area.lat, area.lon, s)), 1)
              for sid, s in sites.items()}
        for aid, area in areas.items()
    }
    return Topology(sites=sites, areas=areas, site_latency_ms=site_latency, area_latency_ms=area_latency,
                    site_bandwidth_mbps=bandwidth, model=model)


def topology_summary(t: Topology) -> dict[str, Any]:
    """A few numbers to print at start-up, so an operator sees which continuum was loaded."""
    hosts = [h for s in t.sites.values() for h in s.hosts]
    return {
        "sites": len(t.sites),
        "sites_per_tier": {tier.value: sum(s.tier == tier for s in t.sites.values()) for tier in Tier},
        "regions": sorted({s.region for s in t.sites.values()}),
        "areas": len(t.areas),
        "hosts": len(hosts),
        "vcpu": sum(h.cpu for h in hosts),
        "memory_mb": sum(h.memory_mb for h in hosts),
        "gpu": sum(h.gpu for h in hosts),
        "clusters": sum(len(s.clusters) for s in t.sites.values()),
    }


# --- helpers ---------------------------------------------------------------------------------


def _as_dict(problems: _Problems, value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    problems.add(path, f"must be a mapping, got {type(value).__name__}")
    return {}


def _as_list(problems: _Problems, value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    problems.add(path, f"must be a list, got {type(value).__name__}")
    return []


def _check_keys(problems: _Problems, data: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in sorted(set(data) - allowed, key=str):
        problems.add(f"{path}.{key}" if path else str(key), f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _entry_path(list_path: str, index: int, entry: Any) -> str:
    if isinstance(entry, dict) and "id" in entry:
        return f"{list_path}[{index}] (id {entry['id']!r})"
    return f"{list_path}[{index}]"


def _new_id(problems: _Problems, known: dict[str, Any], id_: str, path: str, what: str) -> bool:
    """False, and reported, when an entry of this id was declared before."""
    if id_ in known:
        problems.add(path, f"duplicate {what} id {id_!r}")
        return False
    return True


def _mappings(problems: _Problems, entries: list[Any], list_path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each entry of a list that must hold mappings, with the path its problems are reported at;
    an entry that is not a mapping is reported and skipped."""
    for i, entry in enumerate(entries):
        path = _entry_path(list_path, i, entry)
        if isinstance(entry, dict):
            yield path, entry
        else:
            problems.add(path, "must be a mapping")


def _check_features(problems: _Problems, features: Any, path: str) -> None:
    if not isinstance(features, list):
        return  # pydantic reports the wrong type
    for f in features:
        if f not in KNOWN_FEATURES:
            problems.add(f"{path}.features", f"unknown feature {f!r} (known: {', '.join(sorted(KNOWN_FEATURES))})")


def _number(
    problems: _Problems, data: dict[str, Any], key: str, default: float, path: str, positive: bool = False
) -> float:
    """A number >= 0 (> 0 when `positive`: a zero bandwidth is a typo, a zero latency is not)."""
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(f"{path}.{key}", f"must be a number, got {value!r}")
        return default
    if value < 0 or (positive and value == 0):
        problems.add(f"{path}.{key}", f"must be {'> 0' if positive else '>= 0'}, got {value!r}")
        return default
    return float(value)


def _parse_areas(problems: _Problems, raw: Any) -> dict[str, UserAreaDef]:
    areas: dict[str, UserAreaDef] = {}
    for path, entry in _mappings(problems, _as_list(problems, raw, "areas"), "areas"):
        area = problems.validate(UserAreaDef, entry, path)
        if area is not None and _new_id(problems, areas, area.id, path, "area"):
            areas[area.id] = area
    return areas


def _parse_sites(problems: _Problems, raw: Any) -> tuple[dict[str, Site], set[str]]:
    """Sites with their hosts and clusters; also the set of every declared site id."""
    entries = _as_list(problems, raw, "sites")
    declared = {e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)}
    numbering = _group_numbering(entries)
    host_site: dict[str, str] = {}  # global host id -> site id, for duplicates across sites
    sites: dict[str, Site] = {}
    with_clusters: list[tuple[Site, Any, str]] = []  # clusters checked once every host is known
    for path, entry in _mappings(problems, entries, "sites"):
        _check_keys(problems, entry, SITE_KEYS, path)
        sid = entry.get("id")
        hosts = _parse_hosts(problems, entry, path, str(sid), host_site, numbering)
        fields = {k: v for k, v in entry.items() if k in SITE_KEYS - {"hosts", "host_groups", "clusters"}}
        site = problems.validate(Site, fields, path)
        if site is None or not _new_id(problems, sites, site.id, path, "site"):
            continue
        if not hosts and not entry.get("hosts") and not entry.get("host_groups"):
            problems.add(path, "a site needs at least one host (hosts or host_groups)")
        site.hosts = hosts
        sites[site.id] = site
        with_clusters.append((site, entry.get("clusters"), path))
    cluster_site: dict[str, str] = {}  # cluster ids are global too: the MCM names clusters by id
    for site, clusters, path in with_clusters:
        site.clusters = _parse_clusters(problems, clusters, path, site, host_site, cluster_site)
    return sites, declared


def _group_numbering(entries: list[Any]) -> dict[str, tuple[int, int]]:
    """Per host-group prefix: (next number, zero-pad width), so `pc-h` groups share one sequence."""
    totals: dict[str, int] = {}
    for entry in entries:
        groups = entry.get("host_groups") if isinstance(entry, dict) else None
        for g in groups if isinstance(groups, list) else []:
            if isinstance(g, dict) and isinstance(g.get("prefix"), str) and isinstance(g.get("count"), int):
                totals[g["prefix"]] = totals.get(g["prefix"], 0) + max(g["count"], 0)
    return {prefix: (1, max(2, len(str(total)))) for prefix, total in totals.items()}


def _parse_hosts(
    problems: _Problems,
    entry: dict[str, Any],
    path: str,
    sid: str,
    host_site: dict[str, str],
    numbering: dict[str, tuple[int, int]],
) -> list[Host]:
    candidates: list[tuple[str, dict[str, Any]]] = []  # (entry path, host fields)
    for j, h in enumerate(_as_list(problems, entry.get("hosts"), f"{path}.hosts")):
        hpath = _entry_path(f"{path}.hosts", j, h)
        if not isinstance(h, dict):
            problems.add(hpath, "must be a mapping")
            continue
        _check_keys(problems, h, HOST_KEYS, hpath)
        candidates.append((hpath, {k: v for k, v in h.items() if k in HOST_KEYS}))
    for k, g in enumerate(_as_list(problems, entry.get("host_groups"), f"{path}.host_groups")):
        gpath = f"{path}.host_groups[{k}]"
        if not isinstance(g, dict):
            problems.add(gpath, "must be a mapping")
            continue
        _check_keys(problems, g, GROUP_KEYS, gpath)
        prefix, count = g.get("prefix"), g.get("count")
        if not isinstance(prefix, str) or not prefix:
            problems.add(f"{gpath}.prefix", "missing required key (a non-empty string)")
            continue
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            problems.add(f"{gpath}.count", f"must be an integer >= 1, got {count!r}")
            continue
        start, width = numbering[prefix]
        numbering[prefix] = (start + count, width)
        fields = {key: v for key, v in g.items() if key in HOST_KEYS - {"id"}}
        candidates.extend((gpath, {**fields, "id": f"{prefix}{n:0{width}d}"}) for n in range(start, start + count))

    hosts: list[Host] = []
    for hpath, fields in candidates:
        _check_features(problems, fields.get("features", []), hpath)
        host = problems.validate(Host, fields, hpath)
        if host is None:
            if isinstance(fields.get("id"), str):  # known but invalid: clusters naming it stay quiet
                host_site.setdefault(fields["id"], sid)
            continue
        if host.id in host_site:
            problems.add(hpath, f"duplicate host id {host.id!r} (already in site {host_site[host.id]!r})")
            continue
        host_site[host.id] = sid
        host.site = sid
        host.features = sorted(set(host.features))
        hosts.append(host)
    return hosts


def _parse_clusters(
    problems: _Problems, raw: Any, path: str, site: Site, host_site: dict[str, str], cluster_site: dict[str, str]
) -> list[Cluster]:
    by_id = {h.id: h for h in site.hosts}
    clusters: list[Cluster] = []
    for j, c in enumerate(_as_list(problems, raw, f"{path}.clusters")):
        cpath = _entry_path(f"{path}.clusters", j, c)
        if not isinstance(c, dict):
            problems.add(cpath, "must be a mapping")
            continue
        _check_keys(problems, c, CLUSTER_KEYS, cpath)
        if "hosts" not in c:
            problems.add(f"{cpath}.hosts", "missing required key (the hosts of this site the cluster runs on)")
        cluster = problems.validate(Cluster, {k: v for k, v in c.items() if k in CLUSTER_KEYS}, cpath)
        if cluster is None:
            continue
        if cluster.id in cluster_site:
            problems.add(cpath, f"duplicate cluster id {cluster.id!r} (already in site {cluster_site[cluster.id]!r})")
            continue
        cluster_site[cluster.id] = site.id
        if not cluster.hosts and "hosts" in c:
            problems.add(f"{cpath}.hosts", "a cluster needs at least one host")
        for hid in cluster.hosts:
            if hid not in host_site:
                problems.add(f"{cpath}.hosts", f"unknown host {hid!r}")
            elif host_site[hid] != site.id:
                problems.add(f"{cpath}.hosts", f"host {hid!r} belongs to site {host_site[hid]!r}, not {site.id!r}")
            elif hid not in by_id:
                continue  # an invalid host of this site, reported where it is defined
            elif by_id[hid].cluster is not None:
                problems.add(f"{cpath}.hosts", f"host {hid!r} is already in cluster {by_id[hid].cluster!r}")
            else:
                by_id[hid].cluster = cluster.id
                by_id[hid].state = "allocated"
        cluster.site = site.id
        clusters.append(cluster)
    return clusters


def _latency_params(problems: _Problems, cfg: dict[str, Any]) -> tuple[float, dict[Tier, float]]:
    per_100km = _number(problems, cfg, "per_100km_ms", DEFAULT_PER_100KM_MS, "latency")
    access = dict(DEFAULT_ACCESS_MS)
    raw = _as_dict(problems, cfg.get("access_ms") or {}, "latency.access_ms")
    for key in raw:
        if key not in {t.value for t in Tier}:
            problems.add(f"latency.access_ms.{key}", f"unknown tier (known: {', '.join(t.value for t in Tier)})")
        else:
            access[Tier(key)] = _number(problems, raw, key, access[Tier(key)], "latency.access_ms")
    return per_100km, access


def _pair_overrides(
    problems: _Problems, raw: Any, path: str, value_key: str, declared: set[Any], kind: str = "site"
) -> dict[frozenset[str], float]:
    """Pair overrides (`{a, b, ms|mbps}`), keyed by unordered pair: links are symmetric."""
    out: dict[frozenset[str], float] = {}
    for i, o in enumerate(_as_list(problems, raw, path)):
        opath = f"{path}[{i}]"
        if not _override_shape(problems, o, opath, ("a", "b", value_key)):
            continue
        _check_names(problems, opath, (("a", o["a"]), ("b", o["b"])), declared, kind)
        if o["a"] == o["b"]:
            problems.add(opath, f"a and b are the same {kind} {o['a']!r}")
        out[frozenset((o["a"], o["b"]))] = _number(problems, o, value_key, 0.0, opath, value_key == "mbps")
    return out


def _area_overrides(problems: _Problems, raw: Any, areas: set[str], declared: set[str]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for i, o in enumerate(_as_list(problems, raw, "latency.areas")):
        opath = f"latency.areas[{i}]"
        if not _override_shape(problems, o, opath, ("area", "site", "ms")):
            continue
        _check_names(problems, opath, (("area", o["area"]),), areas, "area")
        _check_names(problems, opath, (("site", o["site"]),), declared, "site")
        out[(o["area"], o["site"])] = _number(problems, o, "ms", 0.0, opath)
    return out


def _override_shape(problems: _Problems, o: Any, path: str, keys: tuple[str, ...]) -> bool:
    if not isinstance(o, dict):
        problems.add(path, "must be a mapping")
        return False
    _check_keys(problems, o, set(keys), path)
    missing = [k for k in keys if k not in o]
    for k in missing:
        problems.add(f"{path}.{k}", "missing required key")
    # Names must be strings to be looked up; a list or a mapping there is reported, not crashed on.
    names = [k for k in keys[:-1] if k in o and not isinstance(o[k], str)]
    for k in names:
        problems.add(f"{path}.{k}", f"must be a name, got {o[k]!r}")
    return not missing and not names


def _check_names(problems: _Problems, path: str, pairs: Iterable[tuple[str, Any]], known: set[str], kind: str) -> None:
    for key, value in pairs:
        if not isinstance(value, str) or value not in known:
            problems.add(f"{path}.{key}", f"unknown {kind} {value!r}")
