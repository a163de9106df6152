"""The package layout keeps its promises: imports point one way, and no module reaches into
another's private names (the checks `issues show 18` asked for, kept as tests)."""

from __future__ import annotations

import ast
from pathlib import Path

import clipground

ROOT = Path(clipground.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imports(name: str) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every clipground import in module `name`,
    lazy ones inside functions included."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("clipground")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
            if not base.startswith("clipground"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, []) if sub in MODULES else (base, [alias.name]))
    return found


def graph() -> dict[str, set[str]]:
    return {
        name: {target for target, _ in imports(name) if target in MODULES and target != name}
        for name in MODULES
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    edges = graph()
    # a package's __init__ importing its own modules is how it exports them, not a circle
    for name in edges:
        if MODULES[name].name == "__init__.py":
            edges[name] = {t for t in edges[name] if not t.startswith(name + ".")}
    assert cycles(edges) == []


def test_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_names_imported_across_modules() -> None:
    offenders = [
        f"{name} imports {taken} from {target}"
        for name in MODULES
        for target, names in imports(name)
        for taken in names
        if taken.startswith("_") and taken != "__version__" and target != name
    ]
    assert offenders == []


def test_lower_layers_do_not_import_higher_ones() -> None:
    """The data flow's direction: only the CLI (and `python -m`) imports the CLI, no layer below
    the pipeline imports it, and the numeric core imports nothing with I/O (only `options`, where
    the choice lists and defaults are spelled once)."""
    edges = graph()

    def inside(name: str, *packages: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in packages)

    below_pipeline = ("clipground.video", "clipground.model", "clipground.cache", "clipground.search",
                      "clipground.types", "clipground.options", "clipground.numeric",
                      "clipground.align", "clipground.errors", "clipground.text")
    pure = ("clipground.search", "clipground.align", "clipground.numeric", "clipground.errors",
            "clipground.options")
    for name, targets in edges.items():
        for target in targets:
            if inside(target, "clipground.cli"):
                assert inside(name, "clipground.cli", "clipground.__main__"), f"{name} -> {target}"
            if inside(target, "clipground.pipeline"):
                assert not inside(name, *below_pipeline), f"{name} -> {target}"
            if inside(name, *pure):
                assert inside(target, *pure), f"{name} -> {target}"
