"""Sphinx extension: where the book is published, and links to run or edit a page.

The repository is read from ``GITHUB_REPOSITORY`` ("owner/repo"), which GitHub
Actions sets for the workflow that publishes the book
(``.github/workflows/book.yml``). From it the extension

- gives the theme the repository and its branch, so every page links to the
  repository and to the page's source on GitHub ("suggest edit"), and every
  chapter has a launch button that opens it on Binder, in JupyterLab;
- points a chapter's links at files that are in git: the executed chapters,
  ``book/chapters/NN_name.ipynb``, are build products, so Binder opens the paired
  notebook ``notebooks/ipynb/NN_name.ipynb`` (jupytext keeps it and the chapter's
  source in step when saved) and "suggest edit" opens ``notebooks/NN_name.py``;
- defines the substitution ``{{ published }}``: the address the book is served at
  (``BOOK_URL``, which the workflow takes from GitHub Pages, else
  ``https://<owner>.github.io/<repo>/``) and the repository it is built from.

Without ``GITHUB_REPOSITORY`` (a local build) there are no repository or launch
links, and ``{{ published }}`` says in general terms where the published copy is.
The build reads only the environment; it needs no network.
"""

from __future__ import annotations

import os
import re

BINDER = "https://mybinder.org"
CHAPTERS = "chapters/"  # pages built from the chapters, book/chapters/NN_name.ipynb
SOURCES = "notebooks"  # their sources in git: notebooks/NN_name.py, notebooks/ipynb/NN_name.ipynb
BOOK = "book"  # the book's folder in the repository

GENERIC = ("The published copy of this book is built from its repository by GitHub Actions on "
           "every change and served by GitHub Pages, at `https://<owner>.github.io/<repository>/` "
           "for a repository `<owner>/<repository>`.")


def repository() -> str | None:
    """``owner/repo`` from ``GITHUB_REPOSITORY``, or None."""
    repo = os.environ.get("GITHUB_REPOSITORY", "").strip().strip("/")
    return repo if re.fullmatch(r"[\w.-]+/[\w.-]+", repo) else None


def branch() -> str:
    """The branch being built (GitHub Actions' ``GITHUB_REF``), else ``main``."""
    ref = os.environ.get("GITHUB_REF", "")
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else "main"


def pages_url(repo: str) -> str:
    """Where GitHub Pages serves the book: ``BOOK_URL`` if set, else the project site's address."""
    if os.environ.get("BOOK_URL", "").strip():
        return os.environ["BOOK_URL"].strip().rstrip("/") + "/"
    owner, name = repo.split("/")
    site = f"https://{owner.lower()}.github.io/"
    return site if name.lower() == f"{owner.lower()}.github.io" else f"{site}{name}/"


def published_text(repo: str | None) -> str:
    if repo is None:
        return GENERIC
    return (f"This book is published at <{pages_url(repo)}>; GitHub Actions builds it from the "
            f"repository [{repo}](https://github.com/{repo}) (branch `{branch()}`) on every change.")


def _configure(app, config):
    repo = repository()
    config.myst_substitutions = {**(config.myst_substitutions or {}), "published": published_text(repo)}
    if repo is None:
        return
    opts = config.html_theme_options
    opts.update(repository_url=f"https://github.com/{repo}", repository_branch=branch(),
                path_to_docs=BOOK, use_repository_button=True, use_edit_page_button=True)
    launch = dict(opts.get("launch_buttons") or {})
    launch.update(binderhub_url=BINDER, notebook_interface="jupyterlab")
    opts["launch_buttons"] = launch
    config.html_baseurl = pages_url(repo)


def _chapter_links(app, pagename, templatename, context, doctree):
    """Point a chapter's launch and edit links at its files in git."""
    if repository() is None or not pagename.startswith(CHAPTERS):
        return
    name = pagename.removeprefix(CHAPTERS)
    built = f"{BOOK}/{pagename}{context.get('page_source_suffix') or '.ipynb'}"
    targets = {"launch-buttons": f"{SOURCES}/ipynb/{name}.ipynb",  # a notebook, for Binder
               "source-buttons": f"{SOURCES}/{name}.py"}  # the source of truth, to edit
    for button in context.get("header_buttons", []):
        label = button.get("label", "")
        if label.startswith("source-") and "buttons" not in button:  # a single one is not grouped
            label, button = "source-buttons", {"buttons": [button]}
        if label in targets:
            for b in button.get("buttons", []):
                if b.get("url"):
                    b["url"] = b["url"].replace(built, targets[label])


def setup(app):
    app.connect("config-inited", _configure)
    # after sphinx-book-theme's header buttons (priority 501)
    app.connect("html-page-context", _chapter_links, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
