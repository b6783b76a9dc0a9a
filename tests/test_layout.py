"""The shape of the package: small modules and functions, no import cycle, the
generic data-to-model line free of any one experiment's variables, and caches
keyed on the code they depend on."""

import ast
import re

import pytest

from v1lib import book, source

from .conftest import ROOT

PACKAGE = ROOT / "v1lib"
GENERIC = ["train.py", "evaluation.py", "tensors.py", "predict.py", "objectives.py",
           "model_cache.py", "models", "data/schema.py", "data/schemas.py", "data/netcdf.py",
           "data/filetree.py", "data/__init__.py"]
STATIC_NAMES = re.compile(r"image|pupil|running|behavior_var|eye_axis", re.I)


def test_no_module_over_400_lines_and_no_function_over_60():
    long = []
    for f in sorted(PACKAGE.rglob("*.py")):
        text = f.read_text()
        if text.count("\n") > 400:
            long.append(f"{f.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long.append(f"{f.relative_to(ROOT)}: {node.name} has {n} lines")
    assert long == []


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules importing it runs: those it names, and the
    packages above them that it is not inside (their __init__ runs first)."""
    graph = {}
    for m in source.all_modules():
        edges = set()
        for t in source.direct_imports(m):
            edges.add(t)
            parts = t.split(".")
            for k in range(2, len(parts)):
                pkg = ".".join(parts[:k])
                if not (m == pkg or m.startswith(pkg + ".")):
                    edges.add(pkg)
        graph[m] = edges - {m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
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
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_cycle_detection_sees_imports_inside_functions_and_package_inits():
    g = {"v1lib.a": {"v1lib.b"}, "v1lib.b": {"v1lib.a"}, "v1lib.c": set()}
    assert cycles(g) == [["v1lib.a", "v1lib.b"]]
    lazy = "def f():\n    from .cache import config_hash\n"
    assert source.imported_modules(lazy, "v1lib.x") == {"v1lib.cache"}
    assert source.imported_modules("from .data import schemas\n", "v1lib.x") == {"v1lib.data.schemas"}
    # a name that is no submodule imports the package itself
    assert source.imported_modules("from . import x\n", "v1lib.data", True) == {"v1lib.data"}
    assert source.imported_modules("import numpy\nfrom v1lib import stats\n") == {"v1lib.stats"}


@pytest.mark.parametrize("name", GENERIC)
def test_the_generic_line_names_no_static_variable(name):
    files = sorted((PACKAGE / name).glob("*.py")) if (PACKAGE / name).is_dir() else [PACKAGE / name]
    hits = [f"{f.relative_to(ROOT)}:{i}: {line.strip()}" for f in files
            for i, line in enumerate(f.read_text().splitlines(), 1) if STATIC_NAMES.search(line)]
    assert hits == []


def test_chapter_keys_cover_the_modules_a_chapter_imports_and_no_others(tmp_path):
    chapters = {c.name: c for c in book.chapters(ROOT)}
    ch2 = book.modules(chapters["02_readouts"])
    assert {"v1lib.studies.readouts", "v1lib.train", "v1lib.models.encoder",
            "v1lib.evaluation", "v1lib.sim.static"} <= set(ch2)
    assert "v1lib.studies.transfer" not in ch2 and "v1lib.cli" not in ch2
    ch1 = book.modules(chapters["01_in_silico_v1"])
    assert "v1lib.train" not in ch1 and "v1lib.probes" in ch1
    # a new module that no chapter imports changes no chapter's digest
    before = {n: source.digest(book.modules(c)) for n, c in chapters.items()}
    extra = PACKAGE / "unused_by_chapters.py"
    extra.write_text('"""Nothing imports this."""\n')
    try:
        source.direct_imports.cache_clear()
        after = {n: source.digest(book.modules(c)) for n, c in chapters.items()}
    finally:
        extra.unlink()
        source.direct_imports.cache_clear()
    assert after == before


def test_digest_follows_the_source_of_the_closure(monkeypatch, tmp_path):
    base = source.digest(["v1lib.stats"])
    assert source.closure(["v1lib.stats"]) == ["v1lib", "v1lib.stats"]
    assert "v1lib.data" in source.closure(["v1lib.data.static"])  # the package __init__ runs
    assert "v1lib.stats" in source.closure(["v1lib.studies.readouts"])
    edited = tmp_path / "stats.py"
    real = source.module_path
    edited.write_text(real("v1lib.stats").read_text() + "\n# an edit\n")
    monkeypatch.setattr(source, "module_path",
                        lambda n: edited if n == "v1lib.stats" else real(n))
    assert source.digest(["v1lib.stats"]) != base
    assert source.digest(["v1lib.paths"]) == source.digest(["v1lib.paths"])
