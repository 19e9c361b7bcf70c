"""The authorization server core: every protocol decision, no HTTP.

The web layer (``passgate.server``) parses requests, calls these functions and renders
what they return or raise. Everything here is testable with plain async calls.
"""
