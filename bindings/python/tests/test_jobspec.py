"""gsm.JobSpec: built from a dict, JSON or keywords; validated by gsm-core's schema."""

from __future__ import annotations

import json
import uuid

import pytest

import gsm

WIRE = {
    "id": "0190f5c2-7a3e-7cc1-9d2b-3f4e5a6b7c8d",
    "host": "0190f5c2-7a3e-7cc1-9d2b-000000000001",
    "kind": {"type": "command", "program": "/bin/echo", "args": ["hello", "from", "gsm"]},
    "timeout_secs": 5,
    "requested_by": {"kind": "user", "id": "alice"},
}


def test_a_wire_job_round_trips_through_a_dict_and_json() -> None:
    spec = gsm.JobSpec.from_dict(WIRE)
    assert spec.to_dict() == WIRE
    assert gsm.JobSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json()) == WIRE
    assert spec.id == WIRE["id"] and spec.host == WIRE["host"]
    assert spec.timeout_secs == 5 and spec.output_cap_bytes is None
    assert "/bin/echo" in repr(spec)


def test_a_command_job_gets_a_fresh_id_the_nil_host_and_a_local_requester() -> None:
    a = gsm.JobSpec.command("/bin/echo", ["hi"], cwd="srv", env={"TZ": "UTC"}, timeout_secs=3, output_cap_bytes=10)
    b = gsm.JobSpec.command("/bin/echo", ["hi"])
    assert a.id != b.id and uuid.UUID(a.id).version == 7
    assert a.host == str(uuid.UUID(int=0))
    assert a.to_dict()["requested_by"] == {"kind": "local", "id": "python"}
    assert a.to_dict()["kind"] == {"type": "command", "program": "/bin/echo", "args": ["hi"], "cwd": "srv", "env": {"TZ": "UTC"}}
    assert (a.timeout_secs, a.output_cap_bytes) == (3, 10)
    assert a != b


def test_game_jobs_keep_their_arguments() -> None:
    data = dict(WIRE, kind={"type": "game", "game": "7dtd", "action": "kick", "args": {"player": "Bob", "n": 1.5, "ok": True, "x": None, "l": [1, 2]}})
    spec = gsm.JobSpec.from_dict(data)
    assert spec.to_dict()["kind"]["args"] == {"player": "Bob", "n": 1.5, "ok": True, "x": None, "l": [1, 2]}
    assert "7dtd/kick" in repr(spec)


@pytest.mark.parametrize(
    "data, needle",
    [
        ({k: v for k, v in WIRE.items() if k != "id"}, "missing field `id`"),
        (dict(WIRE, id="not-a-uuid"), "UUID"),
        (dict(WIRE, shell="sh"), "unknown field `shell`"),
        (dict(WIRE, kind={"type": "script", "text": "rm -rf /"}), "unknown variant `script`"),
        (dict(WIRE, timeout_secs=-1), "invalid value"),
        (dict(WIRE, kind={"type": "command", "program": "/bin/echo", "args": "hello"}), "expected a sequence"),
    ],
)
def test_an_invalid_job_spec_says_what_is_wrong(data: dict, needle: str) -> None:
    with pytest.raises(gsm.JobSpecError, match=needle):
        gsm.JobSpec.from_dict(data)


def test_a_job_spec_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError):
        gsm.JobSpec.from_json("{")


def test_json_errors_carry_the_line_and_column() -> None:
    with pytest.raises(gsm.JobSpecError, match="line 2 column"):
        gsm.JobSpec.from_json('{"id":\n nope}')


@pytest.mark.parametrize("value, where", [(object(), "job.kind"), ({1: "x"}, "job.kind"), (float("nan"), "job.kind")])
def test_values_json_cannot_hold_are_type_errors_naming_where(value: object, where: str) -> None:
    with pytest.raises(TypeError, match=where):
        gsm.JobSpec.from_dict(dict(WIRE, kind=value))


def test_args_must_be_a_list_of_strings() -> None:
    with pytest.raises(TypeError):
        gsm.JobSpec.command("/bin/echo", "hello")  # type: ignore[arg-type]
