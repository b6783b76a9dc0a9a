"""The package's own source: which ``v1lib`` modules a module (or a chapter)
imports, directly or through others, and a digest of their files.

Caches are keyed on these digests so that a result is recomputed when, and only
when, code it depends on changes: an edit to the video models does not
re-execute the static-image chapters. Imports are read from the source text
(every ``import`` statement, also those inside functions), so nothing is run.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "v1lib"
ROOT = Path(__file__).resolve().parent  # the package folder


def module_path(name: str) -> Path | None:
    """The file of module ``name`` (``v1lib.x.y``), or None if it is not one of ours."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    rel = Path(*name.split(".")[1:])
    for cand in (ROOT / rel / "__init__.py", (ROOT / rel).with_suffix(".py")):
        if cand.is_file():
            return cand
    return None


def _resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    parts = current.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(source: str, current: str = "", is_package: bool = False) -> set[str]:
    """The ``v1lib`` modules that the Python ``source`` imports."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, current, is_package)
            # `from pkg import sub` imports the submodule when there is one
            names = [f"{base}.{a.name}" if module_path(f"{base}.{a.name}") else base
                     for a in node.names]
        else:
            continue
        out |= {n for n in names if module_path(n) is not None}
    return out


@functools.cache
def direct_imports(name: str) -> frozenset[str]:
    """The ``v1lib`` modules module ``name`` imports itself."""
    path = module_path(name)
    if path is None:
        raise ValueError(f"'{name}' is not a module of {PACKAGE}")
    return frozenset(imported_modules(path.read_text(), name, path.name == "__init__.py") - {name})


def closure(names) -> list[str]:
    """``names`` and every ``v1lib`` module importing them runs, directly or not
    (the packages above a module included: their ``__init__`` runs first), sorted."""
    seen, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += direct_imports(n)
            todo += [".".join(n.split(".")[:k]) for k in range(1, n.count(".") + 1)]
    return sorted(seen)


def digest(names) -> str:
    """Hash of the source files of ``names`` and of everything they import."""
    h = hashlib.sha256()
    for n in closure(names):
        path = module_path(n)
        h.update(n.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def all_modules() -> list[str]:
    """Every module of the package."""
    out = []
    for f in sorted(ROOT.rglob("*.py")):
        rel = f.relative_to(ROOT).with_suffix("")
        parts = [PACKAGE, *rel.parts]
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out
