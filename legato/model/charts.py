"""A component packaged as a Helm chart: where the chart comes from, its values, and the values
paths through which Legato scales and upgrades it.

The chart's version is the component's `version` (what an upgrade changes, what a release's
revisions record); the chart source here says where to fetch it. `values_files` are read by the
client that loads the spec from a file (`legato deploy`, the TMF templates), relative to that file,
and merged under `values` before the spec is sent: the stored spec and the workflow history carry
the values themselves, and no server reads a path a client named."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

VALUES_PATH = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$"
CHART_NAME = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"


class ChartSource(BaseModel):
    """`ref` is an OCI chart (`oci://registry/path/<name>`) or a chart repository
    (`https://charts.example.com`, with `name`)."""

    model_config = ConfigDict(extra="forbid")

    ref: str = Field(min_length=1, max_length=500, description="oci://registry/path/<chart>, or a chart "
                     "repository URL (http:// or https://) with `name`")
    name: str | None = Field(default=None, pattern=CHART_NAME, description="the chart in the repository "
                             "(an OCI ref names it itself: its last path segment)")
    values: dict[str, Any] = Field(default_factory=dict, description="values for the release (Helm's -f/--set)")
    values_files: list[str] = Field(default_factory=list, description="YAML values files, relative to the spec "
                                    "file; read by the client that loads it (`legato deploy`), merged in order "
                                    "under `values`; a spec sent to the API carries none")
    replicas_path: str = Field(default="replicaCount", pattern=VALUES_PATH, description="the values path the "
                               "component's replicas are written to (scale)")
    version_path: str | None = Field(default=None, pattern=VALUES_PATH, description="a values path the "
                                     "component's version is also written to (e.g. `image.tag`, for a chart whose "
                                     "image follows its chart version); none: the chart's own default")

    @field_validator("ref")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not re.match(r"^(oci|https?)://[^\s/]+", value):
            raise ValueError(f"{value!r}: an oci://, http:// or https:// reference")
        if any(c.isspace() for c in value) or "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("no spaces and no credentials in a chart reference (a registry's credentials are "
                             "the worker's own Helm configuration, never the spec's)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _named(self) -> ChartSource:
        if self.ref.startswith("oci://"):
            last = self.ref.rsplit("/", 1)[-1]
            if self.name is not None and self.name != last:
                raise ValueError(f"name: {self.name!r}, but the OCI reference names chart {last!r}")
            if "/" not in self.ref[len("oci://"):] or not re.match(CHART_NAME, last):
                raise ValueError(f"ref: {self.ref!r} must end with the chart's name (oci://registry/path/<chart>)")
        elif self.name is None:
            raise ValueError("name: a chart repository reference needs the chart's `name`")
        return self

    @property
    def chart_name(self) -> str:
        return self.name or self.ref.rsplit("/", 1)[-1]

    def describe(self, version: str) -> str:
        if self.ref.startswith("oci://"):
            return f"{self.ref}:{version}"
        return f"{self.ref} {self.chart_name} {version}"


def set_path(values: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `values` with `value` at the dotted `path` (intermediate maps made as needed)."""
    out = dict(values)
    head, _, rest = path.partition(".")
    if not rest:
        out[head] = value
        return out
    inner = out.get(head)
    out[head] = set_path(inner if isinstance(inner, dict) else {}, rest, value)
    return out


def get_path(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values: maps merge key by key, anything else in `over` replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def release_values(chart: ChartSource, replicas: int, version: str) -> dict[str, Any]:
    """What the release is installed with: the spec's values, the replicas and (where the chart
    asks) the version at their paths."""
    values = set_path(chart.values, chart.replicas_path, replicas)
    return set_path(values, chart.version_path, version) if chart.version_path else values


def values_of(files: list[Path], sets: list[str]) -> dict[str, Any] | None:
    """Values given on a command line, as Helm takes them: YAML files merged in order, then each
    `path=value` (a dotted path, the value read as YAML: `3`, `true`, `[a, b]`). None when nothing is given."""
    if not files and not sets:
        return None
    values: dict[str, Any] = {}
    for path in files:
        try:
            data = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"--values {path}: cannot read ({type(err).__name__})") from None
        if not isinstance(data, dict):
            raise ValueError(f"--values {path}: not a YAML map of values")
        values = merge(values, data)
    for item in sets:
        key, eq, raw = item.partition("=")
        if not eq or not re.match(VALUES_PATH, key):
            raise ValueError(f"--set {item!r}: give PATH=VALUE, PATH a dotted values path")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        values = set_path(values, key, value)
    return values


def inline_values_files(spec: dict[str, Any], base: Path) -> dict[str, Any]:
    """A spec as loaded from a file, with every chart's `values_files` (relative to `base`) read and
    merged in order under its inline `values`; what the client sends. A file that cannot be read
    or is not a YAML map is an error naming the component and the file."""
    components = []
    for i, comp in enumerate(spec.get("components") or []):
        chart = comp.get("chart") if isinstance(comp, dict) else None
        if not isinstance(chart, dict) or not chart.get("values_files"):
            components.append(comp)
            continue
        merged: dict[str, Any] = {}
        for name in chart["values_files"]:
            path = (base / name).expanduser()
            where = f"components[{i}].chart.values_files: {name}"
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError) as err:
                raise ValueError(f"{where}: cannot read ({type(err).__name__})") from None
            if not isinstance(data, dict):
                raise ValueError(f"{where}: not a YAML map of values")
            merged = merge(merged, data)
        chart = {**chart, "values": merge(merged, chart.get("values") or {})}
        chart.pop("values_files")
        components.append({**comp, "chart": chart})
    return {**spec, "components": components}
