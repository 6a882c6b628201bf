"""DESIGN.md section 2: core modules do no I/O and import no I/O library.

A core module may import the standard library (minus the I/O modules below), numpy, and other
core modules; nothing else. The list of core modules is explicit, so renaming one away from the
rule fails here instead of silently escaping it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "edgevoice"
CORE = (
    "edgevoice.config",
    "edgevoice.errors",
    "edgevoice.ports",
    "edgevoice.redact",
    "edgevoice.dsp",
    "edgevoice.resampler",
    "edgevoice.jitter",
    "edgevoice.live.messages",
    "edgevoice.live.session",
    "edgevoice.live.tools",
)
FORBIDDEN = {
    "websockets",
    "pyaudio",
    "gpiozero",
    "webrtcvad",
    "systemd",
    "asyncio",
    "socket",
    "ssl",
    "select",
    "selectors",
    "subprocess",
    "urllib.request",
    "http",
    "time",
}
ALLOWED_THIRD_PARTY = {"numpy"}


def module_path(name: str) -> Path:
    relative = Path(*name.split(".")[1:])
    package_init = PACKAGE / relative / "__init__.py"
    return package_init if package_init.exists() else PACKAGE / relative.with_suffix(".py")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("name", CORE)
def test_core_module_imports_no_io_library(name: str) -> None:
    path = module_path(name)
    assert path.exists(), f"core module {name} is missing; update CORE if it moved"
    for imported in imports_of(path):
        top = imported.split(".")[0]
        assert imported not in FORBIDDEN and top not in FORBIDDEN, f"{name} imports {imported}"
        if top == "edgevoice":
            core_or_parent = imported in CORE or any(c.startswith(imported + ".") for c in CORE)
            assert core_or_parent, f"{name} imports non-core {imported}"
        elif top not in sys.stdlib_module_names:
            assert top in ALLOWED_THIRD_PARTY, f"{name} imports third-party {imported}"


def test_the_rule_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\nfrom websockets.asyncio.client import connect\n")
    assert imports_of(bad) & FORBIDDEN == {"asyncio"}
    assert "websockets.asyncio.client" in imports_of(bad)
