import contextlib
import os
import subprocess
import sys
from pathlib import Path

import bcrypt
import psycopg
import pytest
import yaml
from bench.forwardauth import SITE_GROUP, SITE_HOST
from bench.launcher import (
    Server,
    ServerError,
    bench_storage,
    cpu_seconds,
    free_port,
    make_setup,
    parse_cpus,
    peak_rss_kib,
    pinned,
    postgres_storage,
    process_tree,
    scratch_database,
    sqlite_storage,
    write_config,
)

from passgate.config import parse_config
from testenv import missing


def test_postgres_storage_from_a_url() -> None:
    storage = postgres_storage("postgresql://bob:pw@127.0.0.1:5433/app?sslmode=require", "bench")
    assert storage == {
        "type": "postgres",
        "config": {
            "host": "127.0.0.1",
            "database": "bench",
            "user": "bob",
            "ssl": {"mode": "require"},
            "port": 5433,
            "password": "pw",
        },
    }


def test_postgres_storage_from_keywords_with_a_socket_dir() -> None:
    storage = postgres_storage("host=/tmp/pg port=6000 dbname=tests user=postgres")
    assert storage["config"] == {
        "host": "/tmp/pg",
        "database": "tests",
        "user": "postgres",
        "ssl": {"mode": "disable"},
        "port": 6000,
    }


def test_setup_is_a_dex_config_on_loopback(tmp_path: Path) -> None:
    setup = make_setup(sqlite_storage(tmp_path), bcrypt_cost=4, skip_approval=True)
    config = yaml.safe_load(write_config(setup, tmp_path).read_text())
    target = setup.target
    assert config["issuer"] == target.issuer
    assert target.issuer.startswith("http://127.0.0.1:")
    assert target.issuer.endswith("/dex")
    assert config["web"]["http"] == target.issuer.removeprefix("http://").removesuffix("/dex")
    assert config["storage"] == {
        "type": "sqlite3",
        "config": {"file": str(tmp_path / "passgate.db")},
    }
    assert config["oauth2"]["skipApprovalScreen"] is True
    assert "client_credentials" in config["oauth2"]["grantTypes"]
    (client,) = config["staticClients"]
    assert (client["id"], client["secret"]) == (target.client_id, target.client_secret)
    assert client["redirectURIs"] == [target.redirect_uri]
    (user,) = config["staticPasswords"]
    assert user["email"] == target.username
    assert target.password is not None
    assert bcrypt.checkpw(target.password.encode(), user["hash"].encode())
    assert config["enablePasswordDB"] is True


def test_setup_protects_a_site_that_lets_the_user_in(tmp_path: Path) -> None:
    setup = make_setup(sqlite_storage(tmp_path), bcrypt_cost=4)
    text = write_config(setup, tmp_path).read_text()
    config = yaml.safe_load(text)
    section = config["forwardAuth"]
    assert section["cookieDomain"] == ".apps.bench"
    assert section["allowedRedirectDomains"] == [".apps.bench"]
    (rule,) = section["hosts"]
    assert rule == {"host": SITE_HOST, "allowedGroups": [SITE_GROUP]}
    assert SITE_GROUP in config["staticPasswords"][0]["groups"]  # so the rule lets them in
    assert setup.target.forward_auth_host == SITE_HOST
    # Passgate takes the whole config as it is.
    parsed = parse_config(text, environ={})
    assert parsed.forward_auth is not None
    assert [h.host for h in parsed.forward_auth.hosts] == [SITE_HOST]


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("1", {1}), ("0,2", {0, 2}), ("0-3", {0, 1, 2, 3}), (" 4-5, 1 ", {1, 4, 5})],
)
def test_cpu_lists(text: str, cpus: set[int]) -> None:
    assert parse_cpus(text) == cpus


@pytest.mark.parametrize("text", ["", "a", "1-", "-1", "3-1", "1,,2", "0x1"])
def test_bad_cpu_lists_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"CPU list|backwards"):
        parse_cpus(text)


def test_pinned_runs_the_command_under_taskset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pinned(["passgate", "serve"], None) == ["passgate", "serve"]
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert pinned(["passgate", "serve"], frozenset({3, 1})) == [
        "/usr/bin/taskset", "-c", "1,3", "passgate", "serve",
    ]  # fmt: skip
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ServerError, match="taskset"):
        pinned(["passgate"], frozenset({0}))


def test_free_port_can_be_bound() -> None:
    assert 1024 <= free_port() <= 65535


def test_process_tree_memory_and_cpu_of_this_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process_tree(os.getpid())[0] == os.getpid()
        assert child.pid in process_tree(os.getpid())
        rss = peak_rss_kib(os.getpid())
        assert rss is not None
        assert rss > 1024
        assert cpu_seconds(os.getpid()) > 0
    finally:
        child.kill()
        child.wait()
    assert peak_rss_kib(2**22 + 1) is None  # above Linux's pid_max


@pytest.mark.anyio
async def test_server_start_waits_for_health_and_stops(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "healthz").write_text("ok")
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    command += ["--directory", str(tmp_path)]
    server = Server(command, tmp_path / "server.log")
    startup = await server.start(f"http://127.0.0.1:{port}/healthz")
    try:
        assert 0 < startup < 30
        assert server.peak_rss()[0] > 1024
    finally:
        await server.stop()
    assert server.process is not None
    assert server.process.returncode is not None


@pytest.mark.anyio
async def test_a_server_that_exits_reports_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; print('bad config: nope'); sys.exit(3)"]
    server = Server(command, tmp_path / "server.log")
    with pytest.raises(ServerError, match=r"(?s)exited with 3.*bad config: nope"):
        await server.start(f"http://127.0.0.1:{free_port()}/healthz")


@pytest.mark.postgres
def test_scratch_database_is_created_and_dropped() -> None:
    dsn = os.environ.get("PASSGATE_TEST_POSTGRES_DSN")
    if not dsn:
        missing("POSTGRES", "PASSGATE_TEST_POSTGRES_DSN is unset (scripts/with-test-services)")

    def exists(name: str) -> bool:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            return row is not None

    with scratch_database(dsn) as name:
        assert name.startswith("passgate_bench_")
        assert exists(name)
    assert not exists(name)

    with contextlib.ExitStack() as stack:
        storage = bench_storage("postgres", Path("/nonexistent"), dsn, stack)
        database = storage["config"]["database"]
        assert storage["type"] == "postgres"
        assert exists(database)
    assert not exists(database)  # the stack dropped it


def test_bench_storage_sqlite_lives_in_the_directory(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        assert bench_storage("sqlite", tmp_path, None, stack) == sqlite_storage(tmp_path)


def test_setup_with_the_admin_api(tmp_path: Path) -> None:
    from bench.stored import admin_access

    access = admin_access()
    setup = make_setup(sqlite_storage(tmp_path), bcrypt_cost=4, admin=access.section)
    parsed = parse_config(write_config(setup, tmp_path).read_text(), environ={})
    assert parsed.admin is not None
    [token] = parsed.admin.tokens
    assert token.hash == access.section["tokens"][0]["hash"]
    assert access.token.startswith("pgadm_")
    assert access.token not in write_config(setup, tmp_path).read_text()
