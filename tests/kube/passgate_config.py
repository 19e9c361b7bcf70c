"""A passgate config file with a ``kubernetes`` section, for the CLI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ISSUER = "https://sso.example.com/dex"


def write_config(path: Path, kubernetes: dict[str, Any], issuer: str = ISSUER) -> Path:
    """A valid config (memory storage, the public ``kubectl`` client) at ``path``."""
    path.write_text(
        yaml.safe_dump(
            {
                "issuer": issuer,
                "storage": {"type": "memory"},
                "web": {"http": "127.0.0.1:5556"},
                "enablePasswordDB": True,
                "staticClients": [
                    {"id": "kubectl", "public": True, "redirectURIs": ["http://localhost:8000"]}
                ],
                "kubernetes": kubernetes,
            }
        )
    )
    return path
