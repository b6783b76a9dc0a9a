"""Sphinx extension: drop the Thebe launcher's assets.

The book has no live kernels, and Thebe's loader (fetched from a CDN and, with
jupyter-book 1.0, declared twice per page) only produces console errors when
the book is read offline.
"""


def _drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        files = context.get(key)
        if files:
            context[key] = [f for f in files
                            if "thebe" not in str(getattr(f, "filename", f) or "").lower()
                            and "THEBE" not in str(getattr(f, "attributes", {}).get("body", ""))]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
