"""Tests of passgate.storage."""
