"""A PostgreSQL cluster of a test's own (``scripts/pg-test-server``), so the test can do
to it what an outage does: restart it, stop it for a while, kill its backends."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

SCRIPT = str(Path(__file__).resolve().parents[2] / "scripts" / "pg-test-server")


@dataclass
class Cluster:
    dsn: str  # the maintenance database, as a superuser
    directory: str

    @classmethod
    def start(cls) -> Cluster:
        out = subprocess.run(
            [SCRIPT, "start"], check=True, capture_output=True, text=True, timeout=120
        ).stdout
        values = dict(
            line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line
        )
        return cls(values["PASSGATE_TEST_POSTGRES_DSN"], values["PASSGATE_TEST_POSTGRES_DIR"])

    @property
    def port(self) -> int:
        return int(conninfo_to_dict(self.dsn)["port"] or 5432)

    def _control(self, action: str) -> None:
        subprocess.run([SCRIPT, action, self.directory], check=True, timeout=120)

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is terminated, then it starts again."""
        self._control("restart")

    def halt(self) -> None:
        self._control("halt")

    def resume(self) -> None:
        self._control("resume")

    def stop(self) -> None:
        self._control("stop")

    def kill_backends(self) -> int:
        """``pg_terminate_backend`` every client session but this one: what an
        ``idle_in_transaction_session_timeout``, an operator or a failover proxy does."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchall()
        return sum(1 for (killed,) in rows if killed)
