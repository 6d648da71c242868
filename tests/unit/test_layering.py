"""The shape the code keeps as it grows (docs/design.md, "Where each concept lives"): calls across
Temporal by reference, never by a string a reader cannot follow; activities and adapters below
the workflows, never importing them; and no import cycle, so any module can be imported first.

Read from the source (`ast`), so a test fails with the file and line that broke the rule."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

from temporalio import workflow

import legato.activities
from legato.workflows.catalog import WORKFLOWS

ROOT = Path(legato.activities.__file__).resolve().parents[1]  # legato/
CATALOGS = {ROOT / "activities" / "catalog.py", ROOT / "workflows" / "catalog.py"}
# the client calls that take an activity, a workflow, an update, a signal or a query as first argument
BY_NAME = {"execute_activity", "start_activity", "execute_local_activity", "start_local_activity",
           "execute_child_workflow", "start_child_workflow", "start_workflow", "execute_workflow",
           "execute_update", "start_update", "signal", "query", "signal_external_workflow"}
# the same word, meaning something else (file relative to legato/, value)
HOMONYMS = {("api/service_layer/order_plans.py", "ServiceOrder")}  # TMF641's @type of an order


def sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p) for p in sources(".")}


def temporal_names() -> set[str]:
    """Every activity name and workflow type the worker registers."""
    names = {workflow._Definition.from_class(cls).name for cls in WORKFLOWS}
    for info in pkgutil.iter_modules(legato.activities.__path__):
        module = importlib.import_module(f"legato.activities.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            for _, fn in inspect.getmembers(cls, inspect.isfunction):
                definition = getattr(fn, "__temporal_activity_definition", None)
                if definition is not None:
                    names.add(definition.name)
    return names


def test_no_activity_workflow_or_update_is_named_by_a_string():
    names = temporal_names()
    assert len(names) > 40  # the registry was read (47 activities and 9 workflows when written)
    found = []
    for path in sources("workflows", "api", "activities"):
        if path in CATALOGS:
            continue
        tree = ast.parse(path.read_text(), str(path))
        registrations = {id(k.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
                         and isinstance(node.func, ast.Attribute) and node.func.attr == "defn"
                         for k in node.keywords if k.arg == "name"}  # @activity.defn(name=...) names it
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and node.value in names and id(node) not in registrations
                    and (str(path.relative_to(ROOT)), node.value) not in HOMONYMS):
                found.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.value!r}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in BY_NAME
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.func.attr}({node.args[0].value!r})")
    assert not found, "named by a string instead of by reference:\n" + "\n".join(found)


def imports(path: Path, everywhere: bool) -> list[tuple[int, str]]:
    """The modules a file imports, with their line: at module level only (what runs when it is
    imported; `if TYPE_CHECKING:` blocks excluded), or `everywhere` (function bodies too)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []

    def add(node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
            return
        base = node.module or ""
        if node.level:
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
        # `from pkg import submodule` depends on the submodule; `from pkg import name`, on pkg
        found.extend((node.lineno, f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base) for a in node.names)

    def visit(statements: list[ast.stmt]) -> None:
        for s in statements:
            if isinstance(s, (ast.Import, ast.ImportFrom)):
                add(s)
            elif isinstance(s, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(s.test):
                    visit(s.body)
                    visit(s.orelse)
            elif isinstance(s, ast.With):
                visit(s.body)
            elif isinstance(s, ast.Try):
                visit(s.body + [h for handler in s.handlers for h in handler.body] + s.orelse + s.finalbody)

    if everywhere:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                add(node)
    else:
        visit(tree.body)
    return found


def test_activities_and_adapters_never_import_the_workflows():
    found = [f"{path.relative_to(ROOT.parent)}:{line}: {name}"
             for path in sources("activities", "adapters", "simulator", "placement", "inventory", "model")
             for line, name in imports(path, everywhere=True)
             if name == "legato.workflows" or name.startswith("legato.workflows.")]
    assert not found, "\n".join(found)


def test_no_import_cycle():
    """Module-level imports only (a function's import runs later, once everything is loaded). A
    module depends on what it imports, and on the packages above it (Python runs their
    `__init__` first) except its own, which are already being imported."""
    paths = {module_name(p): p for p in sources(".")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        deps: set[str] = set()
        for _, imported in imports(path, everywhere=False):
            if imported not in paths or imported == name:
                continue
            deps.add(imported)
            parts = imported.split(".")
            deps |= {p for p in (".".join(parts[:k]) for k in range(1, len(parts)))
                     if p in paths and p != name and not name.startswith(p + ".")}
        graph[name] = deps
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(sorted(c)) for c in cycles)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that import each other (size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    group = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        group.append(w)
                        if w == v:
                            break
                    if len(group) > 1:
                        groups.append(group)
    return groups
