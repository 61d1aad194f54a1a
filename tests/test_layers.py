"""The layers of docs/architecture.md hold: imports only run down, and never in a circle.

Every module of the package is parsed (never imported) and every import in it counts: at the top,
inside a function (the lazy imports of the commands) or under `TYPE_CHECKING`.

* `core/` is pure: no edge library, nothing that reads files, sockets, processes, the clock or
  the environment, and no other layer of the package (only `core`, `errors`, `exitcodes`).
* `sources/`, `render/` and `logs/` never import the commands or the CLI.
* `commands/` never imports the CLI.
* The module import graph has no cycle.
* prometheus_client is a test dependency only: no module of the package imports it, and the
  package's dependencies do not list it.
* No module reaches 600 lines (one job per module).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "pleg_doctor"

EDGE_LIBRARIES = ("click", "rich", "requests", "urllib3", "prometheus_client", "yaml")
"""Third-party libraries only the edges may import."""

IMPURE_STDLIB = (
    "subprocess",
    "socket",
    "ssl",
    "http",
    "urllib",
    "os",
    "sys",
    "time",
    "pathlib",
    "tempfile",
    "shutil",
    "signal",
    "threading",
    "concurrent",
    "logging",
)
"""Standard modules that do I/O, read the clock or the environment, or run things."""

UPPER_LAYERS = (
    "pleg_doctor.commands",
    "pleg_doctor.sources",
    "pleg_doctor.render",
    "pleg_doctor.logs",
    "pleg_doctor.cli",
    "pleg_doctor.__main__",
)

COMMAND_LAYER = ("pleg_doctor.commands", "pleg_doctor.cli", "pleg_doctor.__main__")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement of module `name`, wherever it sits.

    `from a.b import c` yields `a.b.c` when that is a module of the package, else `a.b`.
    """
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                yield (candidate if candidate in MODULES else module), node.lineno


def under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def in_layer(layer: str) -> list[str]:
    return [name for name in MODULES if under(name, (f"pleg_doctor.{layer}",))]


def violations(names: list[str], banned: tuple[str, ...]) -> list[str]:
    return [
        f"{MODULES[name].relative_to(ROOT)}:{line} imports {module}"
        for name in names
        for module, line in imports_of(name)
        if under(module, banned)
    ]


def test_the_layers_exist():
    for layer in ("core", "sources", "render", "logs", "commands"):
        assert in_layer(layer), f"no module under pleg_doctor/{layer}/"


def test_the_core_is_pure():
    found = violations(in_layer("core"), (*EDGE_LIBRARIES, *IMPURE_STDLIB, *UPPER_LAYERS))
    assert not found, "the pure core imports an edge:\n" + "\n".join(found)


def test_the_core_imports_only_the_core_and_the_shared_plumbing():
    allowed = ("pleg_doctor.core", "pleg_doctor.errors", "pleg_doctor.exitcodes")
    found = [
        f"{MODULES[name].relative_to(ROOT)}:{line} imports {module}"
        for name in in_layer("core")
        for module, line in imports_of(name)
        if under(module, ("pleg_doctor",)) and not under(module, allowed)
    ]
    assert not found, "\n".join(found)


def test_the_shared_plumbing_imports_nothing_of_the_package():
    for name in ("pleg_doctor.errors", "pleg_doctor.exitcodes"):
        found = [m for m, _ in imports_of(name) if under(m, ("pleg_doctor",))]
        assert not found, f"{name} imports {found}"


@pytest.mark.parametrize("layer", ["sources", "render", "logs"])
def test_the_edges_never_import_the_commands(layer):
    found = violations(in_layer(layer), COMMAND_LAYER)
    assert not found, f"pleg_doctor/{layer}/ imports a command:\n" + "\n".join(found)


def test_the_commands_never_import_the_cli():
    found = violations(in_layer("commands"), ("pleg_doctor.cli", "pleg_doctor.__main__"))
    assert not found, "\n".join(found)


def test_no_import_circle():
    graph = {
        name: sorted({m for m, _ in imports_of(name) if m in MODULES and m != name})
        for name in MODULES
    }
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in graph[name]:
            if state.get(target) == "open":
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import circle: " + " → ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_prometheus_client_is_a_test_dependency_only():
    found = violations(list(MODULES), ("prometheus_client",))
    assert not found, "the package imports prometheus_client:\n" + "\n".join(found)
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {
        dep.split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for dep in project["dependencies"]
    }
    assert "prometheus-client" not in names and {"click", "requests", "rich", "pyyaml"} <= names
    assert any(d.startswith("prometheus-client") for d in project["optional-dependencies"]["test"])


MAX_MODULE_LINES = 600
"""A module of 600 lines or more holds more than one job: split it along a seam of its own
(docs/architecture.md lists each module's one job)."""


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_every_module_is_under_600_lines():
    found = [
        f"{path.relative_to(ROOT)}: {line_count(path)} lines"
        for path in MODULES.values()
        if line_count(path) >= MAX_MODULE_LINES
    ]
    assert not found, f"modules of {MAX_MODULE_LINES} lines or more:\n" + "\n".join(found)
