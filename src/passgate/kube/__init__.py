"""Kubernetes: the kubectl exec credential plugin (token cache, sign-in flows), kubeconfigs
and the apiserver's configuration.

Nothing here imports ``server/`` or ``cli/``. The plugin's modules import httpx and
joserfc only where they talk to the network, so a cache hit stays fast.
"""
