"""Smoke build of the whole book: every chapter executes under the smoke profile,
the HTML builds with -W, each page exists with its figures and without errors,
it links each chapter to its files in git as the published book does, and it
renders in headless Chromium."""

import functools
import http.server
import re
import shutil
import threading

import nbformat
import pytest
import yaml

from v1lib import book

from . import chromium
from .conftest import ROOT
from .test_publish import REPO, check_chapter_links

pytestmark = pytest.mark.slow


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("book")
    src = tmp / "book"
    shutil.copytree(ROOT / "book", src, ignore=shutil.ignore_patterns("_build", "*.ipynb",
                                                                      ".*.stamp.json"))
    results = tmp / "results"
    report = book.run(profile="smoke", book_dir=src, results_dir=results, log=lambda *_: None)
    with pytest.MonkeyPatch.context() as env:  # built as GitHub Actions builds the published book
        env.setenv("GITHUB_REPOSITORY", REPO)
        env.setenv("GITHUB_REF", "refs/heads/main")
        env.delenv("BOOK_URL", raising=False)
        html = book.build_html(src, log=lambda *_: None)
    return {"src": src, "html": html, "report": report, "tmp": tmp}


def test_every_chapter_executed(built):
    names = [c.name for c in book.chapters(ROOT)]
    assert [r["chapter"] for r in built["report"]] == names
    for name in names:
        nb = nbformat.read(built["src"] / "chapters" / f"{name}.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.get("output_type") == "error"], name
        assert not [o for o in outputs if o.get("name") == "stderr"], name
        prose = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
        assert not [p for p in prose if re.search(r"\bnan\b", p, re.I)], name  # computed prose
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3, name


def test_every_page_exists(built):
    for f in toc_files():
        assert (built["html"] / f"{f}.html").is_file(), f


def test_pages_are_clean(built):
    machine = str(built["tmp"])
    for f in toc_files():
        page = (built["html"] / f"{f}.html").read_text()
        assert "output traceback" not in page and "output stderr" not in page, f
        assert machine not in page and str(ROOT) not in page, f"machine path in {f}"
        assert "MIT licence" in page, f"footer missing in {f}"


def test_chapter_pages_have_figures(built):
    for ch in book.chapters(ROOT):
        page = (built["html"] / "chapters" / f"{ch.name}.html").read_text()
        imgs = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
        assert len(imgs) >= 3, ch.name
        for src in imgs:
            assert (built["html"] / "chapters" / src).resolve().is_file(), src


def test_chapters_link_to_their_files_in_git(built):
    for ch in book.chapters(ROOT):
        check_chapter_links((built["html"] / "chapters" / f"{ch.name}.html").read_text(), ch.name)
    assert 'href="https://example.github.io/v1-book/"' in (built["html"] / "intro.html").read_text()


def test_bibliography_not_empty(built):
    page = (built["html"] / "bibliography.html").read_text()
    for author in ("Sinz", "Lurz", "Xu", "Shi", "Willeke"):
        assert author in page


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(built):
    handler = functools.partial(QuietHandler, directory=str(built["html"]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chromium.driver(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.mark.browser
def test_pages_load_and_images_render(server, browser, artifacts):
    for f in toc_files():
        browser.get(f"{server}/{f}.html")
        assert browser.execute_script("return document.readyState") == "complete"
        assert "Data-driven models of mouse V1" in browser.title, f
        broken = browser.execute_script(
            "return Array.from(document.images)"
            ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert broken == [], f"images that did not render on {f}: {broken}"
        # uncaught script errors and failed requests of our own pages (the theme's own
        # console messages are not failures)
        local = [e for e in browser.get_log("browser")
                 if e["level"] == "SEVERE" and e.get("source") in ("javascript", "network")
                 and "127.0.0.1" in e.get("message", "")]
        assert local == [], f"console errors on {f}: {local}"
    browser.get(f"{server}/chapters/{book.chapters(ROOT)[0].name}.html")
    n = browser.execute_script("return document.querySelectorAll('.cell_output img').length")
    assert n >= 3
    browser.save_screenshot(str(artifacts / "chapter1.png"))
    assert (artifacts / "chapter1.png").stat().st_size > 10_000
