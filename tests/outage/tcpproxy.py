"""A TCP relay between a client and a server on loopback that a test can cut: every
connection at once (a network cut), or one connection at the moment the client sends
given bytes, either before they reach the server or right after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

#: Inspects each chunk the client sends: "pass", "drop" (cut before forwarding it) or
#: "after" (forward it, then cut).
Hook = Callable[[bytes], str]


@dataclass
class Relay:
    target_port: int
    hook: Hook | None = None
    refusing: bool = False
    port: int = 0
    _server: asyncio.base_events.Server | None = None
    _links: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Every open connection is dropped at once."""
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        muted = False  # after "after": the server's answers no longer reach the client

        def both() -> None:
            for link in (writer, up_writer):
                link.transport.abort()
                self._links.discard(link)

        async def client_to_server() -> None:
            nonlocal muted
            while data := await reader.read(65536):
                action = self.hook(data) if self.hook is not None else "pass"
                if action == "drop":
                    both()
                    return
                up_writer.write(data)
                await up_writer.drain()
                if action == "after":
                    muted = True
                    await asyncio.sleep(0.05)  # the server has read it; its answer is lost
                    both()
                    return
            both()

        async def server_to_client() -> None:
            while data := await up_reader.read(65536):
                if muted:
                    continue
                writer.write(data)
                await writer.drain()
            both()

        try:
            await asyncio.gather(client_to_server(), server_to_client())
        except (ConnectionError, OSError):
            both()
