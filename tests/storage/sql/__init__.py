"""Tests of passgate.storage.sql."""
