"""Hostile config files are refused before they can hang or exhaust the process (issue 7
section 4): not a regular file, too large, or shaped to make the TOML parser slow or crash. The
message names who chose the file and the fix (section 5)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgevoice.adapters.config_file import (
    MAX_CONFIG_BYTES,
    MAX_KEY_PARTS,
    MAX_NESTING,
    shape_problem,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "edgevoice.toml"
HANG_GUARD = 60.0  # s: only a guard against a hang; nothing asserts on durations


def edgevoice(
    *argv: str, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """`python -m edgevoice ...` as a real process, with a hang guard."""
    environ = {k: v for k, v in os.environ.items() if k != "EDGEVOICE_CONFIG"}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "edgevoice", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environ,
        timeout=HANG_GUARD,
        check=False,
        **kw,
    )


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "config.fifo"
    os.mkfifo(path)
    yield path


def test_a_fifo_with_no_writer_is_refused_not_waited_on(fifo: Path) -> None:
    done = edgevoice("check-config", "--config", str(fifo))
    assert done.returncode == 78
    assert done.stderr == (
        f"edgevoice: config error: --config: {fifo} is a FIFO (named pipe), not a regular file; "
        "fix --config\n"
    )


def test_a_symlink_to_a_fifo_is_refused(fifo: Path, tmp_path: Path) -> None:
    link = tmp_path / "edgevoice.toml"
    link.symlink_to(fifo)
    done = edgevoice("run", env={"EDGEVOICE_CONFIG": str(link)})
    assert done.returncode == 78
    assert "$EDGEVOICE_CONFIG: " in done.stderr and "FIFO" in done.stderr
    assert "fix or unset EDGEVOICE_CONFIG" in done.stderr


def test_a_socket_is_refused(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        result = cli("check-config", "--config", str(path))
    assert result.status == 78
    assert "is a socket, not a regular file" in result.err


def test_an_endless_device_is_refused_unread(cli: Any) -> None:
    result = cli("check-config", "--config", "/dev/zero")
    assert result.status == 78
    assert "/dev/zero is a character device, not a regular file" in result.err


def test_dev_null_is_an_empty_config(cli: Any) -> None:
    result = cli("check-config", "--config", "/dev/null")
    assert result.status == 0, result.err
    assert "# config: /dev/null" in result.out


def test_a_symlink_to_a_regular_file_is_fine(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "real.toml"
    target.write_text("[audio]\nvolume = 9\n")
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    result = cli("check-config", "--config", str(link))
    assert result.status == 0 and "volume = 9" in result.out


def test_an_oversized_file_is_refused_before_reading(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    with path.open("wb") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)  # sparse: refused by its size alone
    result = cli("check-config", "--config", str(path))
    assert result.status == 78
    assert "is larger than 256 KiB; is it the right file?" in result.err


@pytest.mark.parametrize(
    ("parts", "fragment"),
    [
        (100_000, "has a line of 200005 characters (line 1; at most 66000)"),
        (30_000, f"has a dotted key of more than {MAX_KEY_PARTS} parts (line 1)"),
    ],
)
def test_the_dotted_key_attack_is_refused_in_bounded_memory(
    tmp_path: Path, parts: int, fragment: str
) -> None:
    # The attack run's file: 195 KiB, one dotted key of 100,000 parts (24 GB in tomllib). A
    # key cannot span lines, so the line bound stops it; 30,000 parts fit in a line and need
    # the dotted-key bound (tomllib would take gigabytes for them too).
    path = tmp_path / "dotted.toml"
    path.write_text("a" + ".a" * parts + " = 1\n")
    assert path.stat().st_size < 200 * 1024

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB is plenty

    done = edgevoice("check-config", "--config", str(path), preexec_fn=limit_memory)
    assert done.returncode == 78, done.stderr
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("v = " + "[" * 50 + "]" * 50 + "\n", f"more than {MAX_NESTING} deep (line 1)"),
        ("v = {a = " * 20 + "1" + "}" * 20 + "\n", f"more than {MAX_NESTING} deep"),
        ("[a.b.c.d.e.f.g.h.i]\n", f"more than {MAX_KEY_PARTS} parts"),
        ('\n\n"a".b."c".d.e.f.g.h.i = 1\n', f"more than {MAX_KEY_PARTS} parts (line 3)"),
        ("x = 1\n" + "# " + "c" * 70_000 + "\n", "has a line of 70002 characters (line 2"),
    ],
    ids=["arrays", "inline-tables", "header", "quoted-parts", "long-line"],
)
def test_absurd_shapes_are_refused_before_parsing(
    cli: Any, write: Callable[..., Path], text: str, fragment: str
) -> None:
    path = write(text)
    result = cli("check-config", "--config", str(path))
    assert result.status == 78
    assert fragment in result.err and f"--config: {path} " in result.err


@pytest.mark.parametrize(
    "text",
    [
        EXAMPLE.read_text(),
        'a = "x.y.z.w.v.u.t.s.r.q"  # dots inside a string are not a key\n',
        "# a comment [[[[[[[[[[ {{{{{{{{ a.b.c.d.e.f.g.h.i\nv = 1\n",
        'v = """\n[[[[[[[[[[\na.b.c.d.e.f.g.h.i.j\n""""\n',
        "v = '''\nq''''\nw = 1\n",
        'v = "escaped \\" [[[[[[[[[[[[ quote"\n',
        "v = 'C:\\path\\to.a.b.c.d.e.f.g.h'\n",
        "v = [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5]\n",
        "t = 1979-05-27T07:32:00.999999-07:00\n",
        "[a.b]\nc.d = 1\n",
        "v = [[[[[[[[1]]]]]]]]\n",
    ],
    ids=[
        "example",
        "string",
        "comment",
        "ml-basic",
        "ml-literal",
        "escape",
        "literal",
        "floats",
        "datetime",
        "dotted",
        "nesting-at-the-limit",
    ],
)
def test_ordinary_toml_passes_the_shape_check(text: str) -> None:
    assert shape_problem(text) is None


def test_the_shape_check_counts_lines_across_multiline_strings() -> None:
    text = 'a = """\none\ntwo\n"""\n' + "b" + ".b" * 20 + " = 1\n"
    assert shape_problem(text) == f"has a dotted key of more than {MAX_KEY_PARTS} parts (line 5)"


def test_a_byte_order_mark_is_not_an_error(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[audio]\nvolume = 12\n")
    result = cli("check-config", "--config", str(path))
    assert result.status == 0, result.err
    assert "volume = 12" in result.out


def test_a_missing_file_named_by_the_environment_says_so(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEVOICE_CONFIG", str(tmp_path / "gone.toml"))
    result = cli("check-config")
    assert result.status == 78
    assert result.err == (
        f"edgevoice: config error: $EDGEVOICE_CONFIG: {tmp_path}/gone.toml does not exist "
        "(named by $EDGEVOICE_CONFIG); create it or unset EDGEVOICE_CONFIG\n"
    )
    assert "--config" not in result.err


def test_a_missing_file_named_by_config_says_so(cli: Any, tmp_path: Path) -> None:
    result = cli("check-config", "--config", str(tmp_path / "nope.toml"))
    assert result.status == 78
    assert "--config: " in result.err and "copy deploy/edgevoice.toml there or fix --config" in (
        result.err
    )


def test_a_hostile_file_name_is_escaped(cli: Any, tmp_path: Path) -> None:
    name = tmp_path / "evil\x1b[2J\nforged.toml"
    result = cli("check-config", "--config", str(name))
    assert result.status == 78
    assert "\x1b" not in result.err and result.err.count("\n") == 1
    assert "evil\\x1b[2J\\x0aforged.toml does not exist" in result.err
