"""Ports handed to local servers come from below the ephemeral range, where an outgoing
connection can never take them between the choice and the server's bind."""

from __future__ import annotations

import socket

from common.infra import kafka_local
from common.infra.kafka_local import _ephemeral_range, free_port


def test_free_ports_are_consecutive_bindable_and_below_the_ephemeral_range() -> None:
    low, _ = _ephemeral_range()
    for count in (1, 2, 5):
        first = free_port(count=count)
        assert 1024 <= first and first + count <= low
        for port in range(first, first + count):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))


def test_a_taken_port_is_never_returned(monkeypatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        taken = held.getsockname()[1]
        picks = iter([taken - 2, taken, taken + 1])  # two windows that hold it, then one that doesn't

        class Scripted:
            def randrange(self, start: int, stop: int) -> int:
                return next(picks)

        monkeypatch.setattr(kafka_local.random, "Random", Scripted)
        assert free_port(count=3) == taken + 1
