"""The GitLab upstream connector (Dex ``gitlab``): gitlab.com or a self-managed GitLab."""

from passgate.connectors.gitlab.connector import GitLabConnector

__all__ = ["GitLabConnector"]
