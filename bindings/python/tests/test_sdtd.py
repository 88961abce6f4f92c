"""gsm.sdtd: the log-line parser against gsm-core's corpus, and Telnet against the real
stand-in gsm-sim-7dtd."""

from __future__ import annotations

import json
import time
from typing import Any, Tuple

import pytest

import gsm
from conftest import REPO

TESTDATA = REPO / "gsm-core" / "src" / "adapters" / "sdtd" / "testdata"


def as_json(value: Any) -> Any:
    """``value`` as JSON would hold it: fixed-size arrays (positions) come as tuples."""
    if isinstance(value, (tuple, list)):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    return value


def test_every_corpus_line_parses_to_what_gsm_core_expects() -> None:
    lines = (TESTDATA / "log-corpus.txt").read_text(encoding="utf-8").splitlines()
    expected = (TESTDATA / "log-corpus.expected.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(expected) > 100
    for line, want in zip(lines, expected):
        assert as_json(gsm.sdtd.parse_line(line)) == json.loads(want), line


def test_a_join_is_an_event_dict_and_noise_is_none() -> None:
    event = gsm.sdtd.parse_line("2024-06-01T12:00:05 10.100 INF GMSG: Player 'Zoë' joined the game")
    assert event == {
        "kind": "player_joined", "name": "Zoë", "time": "2024-06-01T12:00:05", "uptime_s": 10.1,
        "level": "INF", "raw": "2024-06-01T12:00:05 10.100 INF GMSG: Player 'Zoë' joined the game",
    }
    spawned = gsm.sdtd.parse_line(
        "2024-06-01T12:00:06 10.200 INF PlayerSpawnedInWorld (reason: JoinMultiplayer, position: 1, 2, 3): "
        "EntityID=171, PltfmId='Steam_1', CrossId='EOS_1', OwnerID='Steam_1', PlayerName='Zoë', ClientNumber='1'"
    )
    assert spawned is not None and spawned["position"] == (1.0, 2.0, 3.0)
    assert gsm.sdtd.parse_line("") is None
    assert gsm.sdtd.parse_line("\x00\xff garbage") is None


def test_telnet_logs_in_runs_commands_and_lists_players(sdtd_console: Tuple[str, int]) -> None:
    host, port = sdtd_console
    with gsm.sdtd.Telnet(host, port, "secret") as telnet:
        assert "Game version" in telnet.command("version")
        deadline = time.monotonic() + 10
        players = telnet.players()
        while not players and time.monotonic() < deadline:
            players = telnet.players()
        assert players, "the stand-in's script put nobody online"
        assert {"id", "name", "entity_id", "platform_id", "ip", "ping", "position"} <= set(players[0])
        status = telnet.status()
        assert status["game"] == "7dtd" and status["up"] is True
        telnet.say("restart in 5 minutes")
        telnet.save()
        assert f"{host}:{port}" in repr(telnet)


def test_telnet_reads_console_log_lines_as_events(sdtd_console: Tuple[str, int]) -> None:
    host, port = sdtd_console
    with gsm.sdtd.Telnet(host, port, "secret") as telnet:
        joined = None
        deadline = time.monotonic() + 10
        while joined is None and time.monotonic() < deadline:
            line = telnet.read_log(timeout=1.0)
            event = gsm.sdtd.parse_line(line) if line else None
            if event and event["kind"] == "player_joined":
                joined = event["name"]
        # Whoever the stand-in's script (examples/sim-7dtd/src/script.rs) brought in.
        assert joined in {"Catalysm", "Cata lysm", "Zoë", "Lake"}


def test_a_wrong_password_is_game_auth_failed(sdtd_console: Tuple[str, int]) -> None:
    host, port = sdtd_console
    with pytest.raises(gsm.GameAuthFailed) as raised:
        gsm.sdtd.Telnet(host, port, "wrong").connect()
    assert raised.value.code == "game_auth_failed"
    assert "wrong" not in str(raised.value)


def test_an_unreachable_console_is_game_unreachable(sdtd_console: Tuple[str, int]) -> None:
    host, port = sdtd_console
    with pytest.raises(gsm.GameUnreachable):
        gsm.sdtd.Telnet(host, 1, "secret", timeout=2).connect()


def test_shutdown_closes_the_console_and_the_client_says_so(sdtd_console: Tuple[str, int]) -> None:
    host, port = sdtd_console
    telnet = gsm.sdtd.Telnet(host, port, "secret")
    telnet.shutdown()
    with pytest.raises(gsm.GameError):
        for _ in range(50):
            telnet.command("version")
    telnet.close()


def test_a_command_with_a_line_break_is_refused_before_it_is_sent(sdtd_console: Tuple[str, int]) -> None:
    host, port = sdtd_console
    with gsm.sdtd.Telnet(host, port, "secret") as telnet:
        with pytest.raises(gsm.GameError):
            telnet.command("say hi\nshutdown")
        assert "Game version" in telnet.command("version")


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        gsm.sdtd.Telnet("127.0.0.1", 8081, timeout=0)
    with pytest.raises(ValueError, match="positive"):
        gsm.sdtd.Telnet("127.0.0.1", 8081, timeout=float("nan"))
