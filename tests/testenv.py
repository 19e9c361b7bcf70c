"""What the test environment must provide: under CI (or when asked) a missing server is
a failure, never a skip."""

import os


def postgres_required() -> bool:
    """CI (or PASSGATE_REQUIRE_POSTGRES=1) must run the PostgreSQL tests, never skip them."""
    return bool(os.environ.get("CI")) or os.environ.get("PASSGATE_REQUIRE_POSTGRES") == "1"
