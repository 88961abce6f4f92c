"""The installed package: its shape, its version, its typing marker, its exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest

import gsm
from conftest import installed


def test_the_tests_run_against_the_installed_wheel() -> None:
    assert installed(), f"gsm was imported from {gsm.__file__}, not from an installed wheel"


def test_the_package_is_typed_and_ships_its_stubs() -> None:
    package = Path(gsm.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_gsm.pyi").is_file()


def test_the_version_is_the_crates() -> None:
    assert gsm.__version__ == "0.1.0"


@pytest.mark.parametrize(
    "name",
    [
        "InternalError",
        "PolicyError",
        "PolicyViolation",
        "JobSpecError",
        "RunError",
        "GameError",
        "GameUnreachable",
        "GameAuthFailed",
        "GameTimeout",
        "GameCommandRejected",
        "GameConnectionClosed",
    ],
)
def test_every_exception_is_rooted_at_gsm_error(name: str) -> None:
    assert issubclass(getattr(gsm, name), gsm.Error)


def test_game_errors_share_one_base() -> None:
    for name in ["GameUnreachable", "GameAuthFailed", "GameTimeout", "GameCommandRejected", "GameConnectionClosed"]:
        assert issubclass(getattr(gsm, name), gsm.GameError)


def test_a_rust_panic_is_an_internal_error_not_a_crash() -> None:
    with pytest.raises(gsm.InternalError, match="panicked .*the message"):
        gsm._gsm._panic_for_tests("the message")
    # The interpreter and the module are still fine afterwards.
    assert gsm.sdtd.parse_line("not an event") is None


def test_the_bindings_depend_on_gsm_core_and_binding_glue_only() -> None:
    """ARCHITECTURE.md: bindings → core, and nothing that could carry logic of its own."""
    from conftest import REPO

    manifest = (REPO / "bindings" / "python" / "Cargo.toml").read_text()
    section = manifest.split("[dependencies]", 1)[1].split("\n[", 1)[0]
    names = {line.split("=", 1)[0].strip() for line in section.splitlines() if "=" in line and not line.startswith("#")}
    assert names == {"gsm-core", "pyo3", "pythonize", "serde", "serde_json", "tokio"}
