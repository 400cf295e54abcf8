"""Let users' containers reach the hub's API without opening it to the whole network.

The hub listens on 127.0.0.1 only; a container's 127.0.0.1 is its own. This relay listens on one address
of this machine that containers can reach (`compute.docker.hub_address`, the host's address on a Docker
bridge), and passes each connection on to the hub. The hub's API stays off every other interface, and
the servers in containers talk to the same hub as everything else.

    python hub_relay.py LISTEN_ADDRESS PORT TARGET_PORT

This file imports nothing of CampusHub's, so that it starts in milliseconds under any Python.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

BUFFER = 64 * 1024


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def no_delay(writer: asyncio.StreamWriter) -> None:
    """Small API requests go out at once, as on a direct connection."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def relay(listen: str, port: int, target_port: int) -> None:
    async def connection(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            hub_reader, hub_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        no_delay(client_writer)
        no_delay(hub_writer)
        await asyncio.gather(pipe(client_reader, hub_writer), pipe(hub_reader, client_writer))

    server = await asyncio.start_server(connection, listen, port, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        sys.exit("usage: hub_relay.py LISTEN_ADDRESS PORT TARGET_PORT")
    asyncio.run(relay(argv[0], int(argv[1]), int(argv[2])))


if __name__ == "__main__":
    main(sys.argv[1:])
