"""Publishing: the workflow runs the README's book command and deploys what it
builds; `make lab` is configured to open chapters as notebooks; the book's
publishing extension links a chapter to its files in git and says where the book
is published (and, in a local build, links nothing)."""

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from .conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
HTML = "book/_build/html"  # where `jupyter-book build book` writes the HTML book
REPO = "example/v1-book"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> list[dict]:
    return [s for job in workflow()["jobs"].values() for s in job.get("steps", [])]


def step(uses: str) -> dict:
    (found,) = [s for s in steps() if s.get("uses", "").split("@")[0] == uses]
    return found


def readme_commands() -> list[str]:
    """The command lines of the README's bash blocks, without comments."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    return [" ".join(shlex.split(line, comments=True)) for line in text.splitlines()
            if shlex.split(line, comments=True)]


def test_workflow_runs_the_readme_book_command():
    runs = [" ".join(s["run"].split()) for s in steps() if "run" in s]
    assert runs == ["make book PROFILE=cpu"]  # its only command: the README's
    assert runs[0] in readme_commands()
    assert step("actions/setup-python")["with"]["python-version"] == "3.11"
    assert "PYTHON  ?= python3.11" in (ROOT / "Makefile").read_text()


def test_workflow_deploys_the_built_book():
    wf = workflow()
    assert "main" in (wf.get("on") or wf[True])["push"]["branches"]
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    assert wf["concurrency"]["group"] == "pages"
    assert step("actions/upload-pages-artifact")["with"]["path"] == HTML
    assert "book/_build/" in (ROOT / ".gitignore").read_text().split()
    deploy = [j for j in wf["jobs"].values() if any(s.get("uses", "").startswith("actions/deploy-pages@")
                                                     for s in j["steps"])]
    assert len(deploy) == 1 and deploy[0]["needs"] == "build"
    assert deploy[0]["environment"]["name"] == "github-pages"
    names = [s.get("uses", s.get("run", "")).split("@")[0] for s in workflow()["jobs"]["build"]["steps"]]
    assert names.index("actions/cache/restore") < names.index("make book PROFILE=cpu") \
        < names.index("actions/cache/save") < names.index("actions/upload-pages-artifact")


def test_workflow_caches_results():
    restore, save = step("actions/cache/restore"), step("actions/cache/save")
    assert restore["with"]["path"] == save["with"]["path"] == "results"
    assert restore["with"]["key"] == save["with"]["key"]
    assert save.get("if") == "always()"  # a failed or cancelled build's results are kept
    key = restore["with"]["key"]
    for pattern in re.findall(r"'([^']+)'", key):
        assert list(ROOT.glob(pattern)), f"the cache key hashes no files for {pattern}"
    assert {"data_manifest.yaml", "profiles/*.yaml", "v1lib/**/*.py"} <= set(re.findall(r"'([^']+)'", key))
    prefixes = restore["with"]["restore-keys"].strip().splitlines()
    assert prefixes and all(key.startswith(p) for p in prefixes)


def test_lab_opens_python_files_as_notebooks():
    overrides = json.loads((ROOT / ".jupyter" / "labconfig" / "default_setting_overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["python"] == "Jupytext Notebook"
    dry = subprocess.run(["make", "--no-print-directory", "-n", "-C", str(ROOT), "-o", ".venv/.installed",
                          "lab", "PROFILE=smoke"], capture_output=True, text=True, check=True).stdout
    assert f"JUPYTER_CONFIG_PATH=\"{ROOT}/.jupyter" in dry
    assert "V1LIB_PROFILE=smoke" in dry and "jupyter lab" in dry
    assert "V1LIB_PROFILE" not in subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), "-o", ".venv/.installed", "lab"],
        capture_output=True, text=True, check=True).stdout  # auto: the machine decides
    assert re.search(r'"jupyterlab[><=]', (ROOT / "pyproject.toml").read_text())
    assert "jupyterlab" in (ROOT / "environment.yml").read_text()


# -- the book's publishing extension -------------------------------------------------------

def publishing():
    spec = importlib.util.spec_from_file_location("publishing", ROOT / "book" / "_ext" / "publishing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def github(monkeypatch):
    for key in ("GITHUB_REPOSITORY", "GITHUB_REF", "BOOK_URL"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_where_the_book_is_published(github):
    pub = publishing()
    assert pub.repository() is None and "published copy" in pub.published_text(None)
    github.setenv("GITHUB_REPOSITORY", "Example/v1-book")
    assert pub.repository() == "Example/v1-book"
    assert pub.pages_url("Example/v1-book") == "https://example.github.io/v1-book/"
    assert pub.pages_url("Example/example.github.io") == "https://example.github.io/"
    assert pub.branch() == "main"
    github.setenv("GITHUB_REF", "refs/heads/draft")
    assert pub.branch() == "draft"
    github.setenv("GITHUB_REF", "refs/tags/v1")
    assert pub.branch() == "main"
    github.setenv("BOOK_URL", "https://v1.example.org")
    assert pub.pages_url("Example/v1-book") == "https://v1.example.org/"
    assert "<https://v1.example.org/>" in pub.published_text("Example/v1-book")
    github.setenv("GITHUB_REPOSITORY", "not a repository")
    assert pub.repository() is None


def chapter_names() -> list[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f.removeprefix("chapters/") for f in files if f.startswith("chapters/")]


def in_git(path: str) -> bool:
    return subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch", path],
                          capture_output=True).returncode == 0


def check_chapter_links(page: str, name: str, repo: str = REPO, branch: str = "main") -> None:
    """A chapter page's Binder link opens its paired notebook in the repository, and its
    edit link its source; nothing links to the built notebook, which is not in git."""
    binder = re.findall(r'href="(https://mybinder\.org/v2/gh/[^"]+)"', page)
    assert binder == [f"https://mybinder.org/v2/gh/{repo}/{branch}"
                      f"?urlpath=lab/tree/notebooks/ipynb/{name}.ipynb"], binder
    assert in_git(f"notebooks/ipynb/{name}.ipynb") and in_git(f"notebooks/{name}.py")
    assert f'href="https://github.com/{repo}/edit/{branch}/notebooks/{name}.py"' in page
    assert f'href="https://github.com/{repo}"' in page
    assert f"/book/chapters/{name}" not in page


@pytest.fixture(scope="module")
def stub_book(tmp_path_factory):
    """The book's pages and configuration, with a one-cell notebook for each chapter."""
    src = tmp_path_factory.mktemp("stub") / "book"
    shutil.copytree(ROOT / "book", src, ignore=shutil.ignore_patterns("_build", "*.ipynb", ".*.stamp.json"))
    (src / "chapters").mkdir(exist_ok=True)
    for name in chapter_names():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {name}"),
                                             nbformat.v4.new_code_cell("1 + 1")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, src / "chapters" / f"{name}.ipynb")
    return src


def build(src: Path, out: Path, **env) -> Path:
    """``jupyter-book build -W -n`` (as the runner does) with ``env`` as GitHub Actions'."""
    exe = Path(sys.executable).parent / "jupyter-book"
    environ = {k: v for k, v in os.environ.items()
               if k not in ("GITHUB_REPOSITORY", "GITHUB_REF", "BOOK_URL")}
    shutil.rmtree(src / "_build", ignore_errors=True)
    proc = subprocess.run([str(exe) if exe.exists() else "jupyter-book", "build", str(src), "-W", "-n",
                           "--keep-going"], capture_output=True, text=True, env={**environ, **env})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    shutil.copytree(src / "_build" / "html", out)
    return out


@pytest.mark.slow
def test_published_build_links_chapters_to_git(stub_book, tmp_path):
    html = build(stub_book, tmp_path / "html", GITHUB_REPOSITORY=REPO, GITHUB_REF="refs/heads/main")
    for name in chapter_names():
        check_chapter_links((html / "chapters" / f"{name}.html").read_text(), name)
    for page in ("intro", "reproducing"):
        text = (html / f"{page}.html").read_text()
        assert 'href="https://example.github.io/v1-book/"' in text, page
        assert f'href="https://github.com/{REPO}/edit/main/book/{page}.md"' in text, page
        assert "mybinder" not in text, page  # only chapters are notebooks
    assert '<link rel="canonical" href="https://example.github.io/v1-book/intro.html"' in \
        (html / "intro.html").read_text()


@pytest.mark.slow
def test_local_build_links_nothing(stub_book, tmp_path):
    html = build(stub_book, tmp_path / "html")
    for name in chapter_names():
        page = (html / "chapters" / f"{name}.html").read_text()
        assert "mybinder" not in page and "github.com/" not in page, name
    intro = (html / "intro.html").read_text()
    assert "published copy of this book" in intro and "github.io/&lt;repository&gt;/" in intro
