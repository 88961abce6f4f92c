"""gsm.rcon.Client against the real stand-in gsm-sim-rcon."""

from __future__ import annotations

from typing import Tuple

import pytest

import gsm


def test_rcon_logs_in_runs_commands_and_lists_players(rcon_console: Tuple[str, int]) -> None:
    host, port = rcon_console
    with gsm.rcon.Client(host, port, "hunter2") as client:
        assert client.command("list").startswith("There are 2 of a max of 20 players online")
        assert client.players() == [{"id": "Alice", "name": "Alice"}, {"id": "Bob", "name": "Bob"}]
        status = client.status()
        assert (status["game"], status["players_online"], status["max_players"]) == ("source-rcon", 2, 20)
        client.say("restart soon")
        assert f"{host}:{port}" in repr(client)


def test_a_wrong_password_is_game_auth_failed(rcon_console: Tuple[str, int]) -> None:
    host, port = rcon_console
    client = gsm.rcon.Client(host, port, "wrong")
    with pytest.raises(gsm.GameAuthFailed) as raised:
        client.connect()
    assert raised.value.code == "game_auth_failed" and "wrong" not in str(raised.value)


def test_the_client_logs_in_again_after_close(rcon_console: Tuple[str, int]) -> None:
    host, port = rcon_console
    client = gsm.rcon.Client(host, port, "hunter2", flavor="minecraft", timeout=3)
    client.connect()
    client.close()
    assert client.command("list").startswith("There are 2")


def test_an_unreachable_console_is_game_unreachable() -> None:
    with pytest.raises(gsm.GameUnreachable) as raised:
        gsm.rcon.Client("127.0.0.1", 1, "x").command("list")
    assert raised.value.code == "game_unreachable"


def test_an_unknown_flavor_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown RCON flavor"):
        gsm.rcon.Client("127.0.0.1", 25575, "x", flavor="quake")
