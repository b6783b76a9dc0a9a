"""The book runner: text notebooks -> papermill -> executed chapters -> Jupyter Book.

For each chapter ``notebooks/NN_name.py`` (jupytext percent format) the runner

1. converts it to an unexecuted notebook with the ``python3`` kernel,
2. executes it with papermill, injecting the profile's parameters,
3. tidies the outputs (progress bars keep their final state; the parameters
   cells are hidden) and writes ``book/chapters/NN_name.ipynb`` atomically.

A chapter is skipped when nothing it depends on changed since its last
successful run (a stamp file beside the executed notebook records the key): its
notebook, parameters and profile, the ``v1lib`` modules it imports (directly or
through others; :mod:`v1lib.source`), the manifest entries of the datasets it
is given and, for the closing chapter, the ledger the others write. An edit to
code that a chapter does not use leaves it alone. A failed run leaves no output
and no stamp, and raises :class:`ChapterError` naming the chapter, cell and
error. Each chapter's time is reported against the profile's budget for it
(``budgets`` in ``profiles/<name>.yaml``). A chapter runs under the lock of its
output (:mod:`v1lib.locking`): a second runner waits for it, then finds it
fresh.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import paths, profiles, source
from .cache import atomic_path, write_json_atomic
from .config import load_yaml
from .locking import locked

KERNEL = "python3"
CHAPTER_RE = re.compile(r"^\d\d_[a-z0-9_]+\.py$")


class ChapterError(RuntimeError):
    """A chapter failed to execute."""


@dataclass(frozen=True)
class Chapter:
    name: str  # e.g. "01_in_silico_v1"
    source: Path  # notebooks/01_in_silico_v1.py


def chapters(root: Path | None = None) -> list[Chapter]:
    root = root or paths.repo_root()
    return [Chapter(p.stem, p) for p in sorted((root / "notebooks").glob("*.py"))
            if CHAPTER_RE.match(p.name)]


def select(only: list[str] | None, root: Path | None = None) -> list[Chapter]:
    """Chapters by name or number prefix (``01``, ``01_in_silico_v1``)."""
    all_ = chapters(root)
    if not only:
        return all_
    out = []
    for key in only:
        hit = [c for c in all_ if c.name == key or c.name.split("_")[0] == key]
        if not hit:
            raise ValueError(f"unknown chapter '{key}'; known: {[c.name for c in all_]}")
        out += [c for c in hit if c not in out]
    return out


def modules(chapter: Chapter) -> list[str]:
    """The ``v1lib`` modules a chapter imports, directly or through others."""
    return source.closure(source.imported_modules(chapter.source.read_text()))


def declared_parameters(chapter: Chapter) -> set[str]:
    """The names its parameters cell assigns: the profile's parameters a
    chapter is given (the others are not injected)."""
    import ast

    for cell in to_notebook(chapter.source).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            return {t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
    return set()


def _manifest_entries(parameters: dict, root: Path) -> dict:
    """The manifest entries of the datasets the parameters name."""
    path = root / "data_manifest.yaml"
    doc = load_yaml(path.read_text()) if path.is_file() else {}
    entries = (doc or {}).get("datasets") or {}
    names = {str(v) for v in parameters.values() if isinstance(v, str)}
    return {n: entries[n] for n in sorted(names & set(entries))}


READS_LEDGER = "ledger.read("  # a chapter that reads the book's ledger (the closing chapter)


def cache_key(chapter: Chapter, parameters: dict, root: Path, profile_path: Path) -> str:
    """Hash of everything a chapter's result depends on."""
    h = hashlib.sha256()
    h.update(chapter.source.read_bytes())
    h.update(json.dumps(parameters, sort_keys=True).encode())
    h.update(profile_path.read_bytes())
    h.update(source.digest(modules(chapter)).encode())
    h.update(json.dumps(_manifest_entries(parameters, root), sort_keys=True, default=str).encode())
    if READS_LEDGER in chapter.source.read_text():  # what the other chapters recorded
        from . import ledger

        h.update(ledger.digest(parameters.get("profile", "auto"),
                               parameters.get("results_dir")).encode())
    return h.hexdigest()


def _stamp(out: Path) -> Path:
    return out.with_name(f".{out.stem}.stamp.json")


def is_fresh(out: Path, key: str) -> bool:
    stamp = _stamp(out)
    if not (out.is_file() and stamp.is_file()):
        return False
    try:
        return json.loads(stamp.read_text()).get("key") == key
    except json.JSONDecodeError:
        return False


def to_notebook(source: Path):
    """Read a percent-format chapter as a notebook with the python3 kernelspec."""
    import jupytext

    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


_CR = re.compile(r"[^\n]*\r(?!\n)")


def _collapse_cr(text: str) -> str:
    """What a terminal shows after carriage returns: the last state of each line."""
    return _CR.sub("", text)


def _merge_streams(outputs: list) -> list:
    """Join consecutive stream outputs of the same stream, as a notebook shows them."""
    merged = []
    for out in outputs:
        if (merged and out.get("output_type") == "stream"
                and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1]["text"] += out["text"]
        else:
            merged.append(out)
    return merged


def tidy(nb) -> None:
    """Hide the parameters cells and keep progress bars' final state only."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = _merge_streams(cell.outputs)
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if "parameters" in tags and "hide-cell" not in tags:
            tags.append("hide-cell")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = _collapse_cr(out["text"])


def _failed_cell(path: Path) -> str:
    """'code cell N (first line)' of the failed cell, counted in the chapter's source."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - the partial output may be unreadable
        return "an unknown cell"
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "injected-parameters" in cell.metadata.get("tags", []):
            continue
        n += 1
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            return f"code cell {n} ('{first[:60]}')"
    return "an unknown cell"


def execute(chapter: Chapter, parameters: dict, out: Path, root: Path) -> float:
    """Run one chapter with papermill; write the executed notebook to ``out``."""
    import nbformat
    import papermill

    nb = to_notebook(chapter.source)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(out) as dst:
        src = Path(tmpdir) / f"{chapter.name}.ipynb"
        nbformat.write(nb, src)
        try:
            papermill.execute_notebook(
                str(src), str(dst), parameters=parameters, kernel_name=KERNEL,
                cwd=str(root / "notebooks"), progress_bar=False, log_output=False,
                report_mode=False)
        except papermill.PapermillExecutionError as err:
            where = _failed_cell(dst)
            raise ChapterError(f"chapter {chapter.name} failed in {where}: "
                               f"{err.ename}: {err.evalue}") from None
        except Exception as err:  # kernel died, timeout, ...
            raise ChapterError(f"chapter {chapter.name} failed: {type(err).__name__}: "
                               f"{err}") from None
        done = nbformat.read(dst, as_version=4)
        tidy(done)
        nbformat.write(done, dst)
    return time.time() - t0


def run(profile: str = "auto", only: list[str] | None = None, book_dir: Path | None = None,
        results_dir: Path | None = None, force: bool = False, log=print,
        root: Path | None = None) -> list[dict]:
    """Execute the chapters (skipping fresh ones) into ``book_dir/chapters``."""
    root = Path(root) if root else paths.repo_root()
    prof = profiles.load(profile, root)
    book_dir = Path(book_dir) if book_dir else root / "book"
    params = {"profile": prof["name"], **prof["parameters"],
              "results_dir": str(paths.results_dir(results_dir))}
    budgets = prof["budgets"]
    report = []
    for ch in select(only, root):
        out = book_dir / "chapters" / f"{ch.name}.ipynb"
        declared = declared_parameters(ch)
        ch_params = {k: v for k, v in params.items() if k in declared}
        key = cache_key(ch, ch_params, root, prof["path"])
        budget = budgets["chapters"].get(ch.name)
        with locked(out, log=lambda m, name=ch.name: log(f"[book] {name}: {m}")):
            if not force and is_fresh(out, key):
                log(f"[book] {ch.name}: unchanged, not re-executed")
                report.append({"chapter": ch.name, "executed": False, "seconds": 0.0,
                               "budget": budget})
                continue
            _stamp(out).unlink(missing_ok=True)
            log(f"[book] {ch.name}: executing with profile '{prof['name']}' ...")
            try:
                seconds = execute(ch, ch_params, out, root)
            except ChapterError:
                out.unlink(missing_ok=True)
                raise
            write_json_atomic(_stamp(out), {"key": key, "profile": prof["name"],
                                            "seconds": round(seconds, 1)})
        log(f"[book] {ch.name}: done in {seconds:.0f} s{against(seconds, budget)}")
        report.append({"chapter": ch.name, "executed": True, "seconds": seconds,
                       "budget": budget})
    total = sum(r["seconds"] for r in report)
    whole = [f"{budgets[k]:.0f} s {what}" for k, what in
             (("book", "from scratch"), ("book_cached", "with every model cached")) if k in budgets]
    log(f"[book] executed {sum(r['executed'] for r in report)} of {len(report)} chapter(s) in "
        f"{total:.0f} s" + (f"; the whole book's budget: {', '.join(whole)}" if whole else ""))
    return report


def against(seconds: float, budget: float | None) -> str:
    """' (34 % of its budget of 720 s)', or a warning past the budget."""
    if budget is None:
        return ""
    share = f"{100 * seconds / budget:.0f} % of its budget of {budget:.0f} s"
    return f" ({share})" if seconds <= budget else f" (OVER BUDGET: {share})"


def build_html(book_dir: Path | None = None, log=print) -> Path:
    """``jupyter-book build -W -n --keep-going``, under the lock of the book's
    ``_build`` folder (two builds at once would write the same files); returns
    the HTML folder."""
    book_dir = Path(book_dir) if book_dir else paths.repo_root() / "book"
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(book_dir), "-W", "-n",
           "--keep-going"]
    with locked(book_dir / "_build", folder=True, log=lambda m: log(f"[book] HTML: {m}")):
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise RuntimeError(f"jupyter-book build failed:\n{tail}")
    html = book_dir / "_build" / "html"
    log(f"[book] HTML book: {html / 'index.html'}")
    return html
