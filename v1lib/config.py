"""Building configuration dataclasses from plain dicts (YAML, JSON)."""

from __future__ import annotations

import dataclasses


def check_options(cls, options: dict, source: str, what: str = "option") -> None:
    """Raise a ValueError naming ``source`` if ``options`` has keys that are
    not fields of the dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    bad = set(options) - names
    if bad:
        raise ValueError(f"{source}: unknown {what}(s) {sorted(bad)}; known: {sorted(names)}")
