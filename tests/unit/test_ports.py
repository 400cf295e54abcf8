"""Ports for test and benchmark hubs come from outside the range outgoing connections take their source ports from."""

from __future__ import annotations

import socket

from bench.ports import ephemeral_range, free_port_block, free_ports


def test_blocks_are_free_distinct_and_never_in_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    blocks = [free_port_block(4) for _ in range(20)]
    ports = [port for base in blocks for port in range(base, base + 4)] + free_ports(5)
    assert len(set(ports)) == len(ports), "every port is handed out once"
    assert not [port for port in ports if low <= port <= high]
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # still free


def test_processes_sharing_the_machine_take_disjoint_slices(monkeypatch) -> None:
    import bench.ports as ports

    spans = []
    for index in range(3):
        monkeypatch.setenv(ports.PORT_SHARE_ENV, f"{index}/3")
        spans.append(ports._span(4))
        base = ports.free_port_block(4)
        assert spans[-1][0] <= base < spans[-1][1]
    assert spans[0][1] <= spans[1][0] and spans[1][1] <= spans[2][0], spans


def test_a_malformed_share_means_the_whole_range(monkeypatch) -> None:
    import bench.ports as ports

    for value in ("", "x/2", "3/2", "1/0"):
        monkeypatch.setenv(ports.PORT_SHARE_ENV, value)
        assert ports.share() == (0, 1), value
