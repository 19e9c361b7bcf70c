"""The ``github`` connector: GitHub and GitHub Enterprise sign-in (Dex ``github``)."""

from __future__ import annotations

from passgate.connectors.github.connector import GitHubConnector

__all__ = ["GitHubConnector"]
