"""The package's public names stay deliberate and complete."""

from __future__ import annotations

import passgate.config


def test_all_is_complete_and_exists() -> None:
    exported = set(passgate.config.__all__)
    public = {
        name
        for name in vars(passgate.config)
        if not name.startswith("_")
        and not isinstance(getattr(passgate.config, name), type(passgate.config))
    }
    assert public == exported
    for name in exported:
        assert hasattr(passgate.config, name)
