"""The storage conformance suite: every backend's test module runs these same tests."""
