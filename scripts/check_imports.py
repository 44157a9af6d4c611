"""The import rules of ARCHITECTURE.md, checked over ``ast`` (no module is imported).

    python scripts/check_imports.py [package_dir]

Finds, in ``loader/`` by default:
- import circles between modules (type-only imports under ``if TYPE_CHECKING:`` count too);
- a private name (``_x``) imported from another module;
- an import that breaks the layer rule (a module imports only from its own layer or below).
Exits 1 and lists what it found, else prints ``ok``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

#: lowest first; a module imports only from its own layer or below (ARCHITECTURE.md)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("<base>",),
    ("adapters", "state"),
    ("plan", "destination", "manifest"),
    ("request",),
    ("copy", "jdbc"),
    ("engine",),
    ("api", "runner", "reaper"),
    ("commands",),
    ("cli",),
)
#: outside the product's flow: the demo and the throwaway servers of the tests, and the package root
UNLAYERED = {"testing", "demo", "__init__", "__main__"}


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, str | None, int]]:
    """(imported module, name or None, line) for every import of ``module``, type-only ones too."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub, None, node.lineno) if sub in known else (base, a.name, node.lineno))
    return [(m, n, line) for m, n, line in out if m in known]


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top in UNLAYERED:
        return None
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    return 0 if len(parts) == 2 else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def check(root: Path) -> list[str]:
    known = modules(root)
    problems: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        for target, name, line in imports(module, path, known):
            if target == module:
                continue
            # a package's __init__ importing its own modules is how it re-exports them
            if not (path.name == "__init__.py" and target.startswith(module + ".")):
                graph[module].add(target)
            if name is not None and name.startswith("_") and not name.startswith("__"):
                problems.append(f"{path}:{line}: imports the private name {name} of {target}")
            mine, theirs = layer_of(module), layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                problems.append(f"{path}:{line}: {module} (layer {LAYERS[mine]}) imports {target} "
                                f"(layer {LAYERS[theirs]}, above it)")
    for comp in cycles(graph):
        problems.append("import circle: " + " -> ".join(comp))
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "loader"
    problems = check(root)
    for p in problems:
        print(p)
    if not problems:
        print("ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
