"""The test harness's free_port: a port no outgoing connection can take before a server binds it."""

from __future__ import annotations

import socket

import pytest

from tests.fixtures.network import EPHEMERAL_RANGE, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_bindable() -> None:
    with open(EPHEMERAL_RANGE) as f:
        low = int(f.read().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(1024 <= port < low for port in ports), ports
    assert len(ports) > 1  # drawn at random, so two tests rarely choose the same one
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", ports.pop()))


def test_a_port_in_use_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    spare = free_port()
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", free_port()))
        taken = busy.getsockname()[1]
        draws = iter([taken, taken, spare])
        monkeypatch.setattr("tests.fixtures.network.random.randrange", lambda *_: next(draws))
        assert free_port() == spare
