import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from bench.rawhttp import Connection, HttpError

Answer = Callable[[bytes], bytes | None]  # request head+body -> raw response (None: hang up)


@contextlib.asynccontextmanager
async def scripted(*answers: Answer) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback server answering the n-th request with ``answers[n]``; it closes the
    connection after an answer whose head says ``Connection: close``."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                request = head + await reader.readexactly(length)
                seen.append(request)
                raw = answers[len(seen) - 1](request)
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
                if b"connection: close" in raw.lower().split(b"\r\n\r\n")[0]:
                    break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()
        await server.wait_closed()


def ok(body: bytes, extra: bytes = b"") -> Answer:
    return lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.mark.anyio
async def test_requests_share_one_keep_alive_connection() -> None:
    async with scripted(ok(b'{"a": 1}'), ok(b"two")) as (base, seen):
        conn = Connection()
        first = await conn.get(f"{base}/x?y=1", {"Accept": "application/json"})
        second = await conn.post_form(f"{base}/token", {"grant_type": "a b", "k": "&"})
        await conn.close()
    assert (first.status, first.json()) == (200, {"a": 1})
    assert first.headers["content-length"] == "8"
    assert second.body == b"two"
    assert seen[0].startswith(b"GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nAccept: application/json\r\n" in seen[0]
    assert seen[1].startswith(b"POST /token HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/x-www-form-urlencoded\r\n" in seen[1]
    assert seen[1].endswith(b"\r\nContent-Length: 20\r\n\r\ngrant_type=a+b&k=%26")


@pytest.mark.anyio
async def test_chunked_bodies_with_extensions_and_trailers() -> None:
    chunked = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    )
    async with scripted(lambda _: chunked, ok(b"next")) as (base, _):
        conn = Connection()
        response = await conn.get(base + "/")
        after = await conn.get(base + "/")
        await conn.close()
    assert (response.status, response.body) == (201, b"hello world")
    assert after.body == b"next"


@pytest.mark.anyio
async def test_bodiless_statuses_and_a_body_that_ends_with_the_connection() -> None:
    no_content = b"HTTP/1.1 204 No Content\r\n\r\n"
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
    async with scripted(lambda _: no_content, lambda _: until_close, ok(b"again")) as (base, _):
        conn = Connection()
        assert (await conn.get(base)).body == b""
        assert (await conn.get(base)).body == b"all of it"
        assert (await conn.get(base)).body == b"again"  # on a new connection
        await conn.close()


@pytest.mark.anyio
async def test_a_connection_closed_while_idle_is_reopened_once() -> None:
    # The second request meets a server that hangs up without answering, as one whose
    # keep-alive timer fired would; the client resends it once on a new connection.
    async with scripted(ok(b"one"), lambda _: None, ok(b"two")) as (base, seen):
        conn = Connection()
        assert (await conn.get(base)).body == b"one"
        assert (await conn.get(base)).body == b"two"
        await conn.close()
    assert len(seen) == 3


@pytest.mark.anyio
async def test_a_fresh_connection_that_fails_is_an_error() -> None:
    async with scripted(lambda _: None) as (base, _):
        conn = Connection()
        with pytest.raises(asyncio.IncompleteReadError):
            await conn.get(base)
        await conn.close()


@pytest.mark.anyio
async def test_garbage_and_other_origins_are_refused() -> None:
    async with scripted(lambda _: b"SSH-2.0-OpenSSH\r\n\r\n", ok(b"")) as (base, _):
        conn = Connection()
        with pytest.raises(HttpError, match=r"not an HTTP/1\.x status line"):
            await conn.get(base)
        with pytest.raises(HttpError, match="origin"):
            await conn.get("http://127.0.0.2:1/")
        await conn.close()


@pytest.mark.anyio
async def test_a_silent_server_times_out() -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(never, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = Connection(timeout=0.2)
    with pytest.raises(TimeoutError):
        await conn.get(f"http://127.0.0.1:{port}/")
    await conn.close()
    server.close()
    await server.wait_closed()


@pytest.mark.anyio
async def test_a_host_header_given_replaces_the_urls() -> None:
    # A proxy's auth subrequest: to Passgate's address, about one of its sites.
    async with scripted(ok(b""), ok(b"")) as (base, seen):
        conn = Connection()
        await conn.get(f"{base}/dex/oauth2/auth", {"host": "grafana.apps.bench", "X-A": "1"})
        await conn.get(f"{base}/x")
        await conn.close()
    head = seen[0].split(b"\r\n")
    assert head[:3] == [b"GET /dex/oauth2/auth HTTP/1.1", b"Host: grafana.apps.bench", b"X-A: 1"]
    assert sum(line.lower().startswith(b"host:") for line in head) == 1
    assert seen[1].split(b"\r\n")[1] == b"Host: " + base.removeprefix("http://").encode()
