"""The helpers every chapter calls."""

import IPython.display
import pytest

from v1lib import chapter


@pytest.mark.parametrize("value, shown", [(0.62, False), ("MouseNet", False), (12, True)])
def test_glue_writes_what_myst_nb_writes(monkeypatch, value, shown):
    """The book's {glue} roles find a value glued by v1lib as one glued by myst-nb."""
    glue_module = pytest.importorskip("myst_nb.ext.glue")
    outputs = {}

    def capture(who):
        return lambda obj, raw, metadata: outputs.setdefault(who, (obj, raw, metadata))

    monkeypatch.setattr(glue_module, "ipy_display", capture("myst_nb"))
    monkeypatch.setattr(IPython.display, "display", capture("v1lib"))
    glue_module.glue("key", value, display=shown)
    chapter.glue("key", value, display=shown)
    assert outputs["v1lib"] == outputs["myst_nb"]
    assert chapter.GLUE_PREFIX == glue_module.GLUE_PREFIX
