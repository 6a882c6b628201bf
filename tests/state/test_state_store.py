"""The state store with real files: round trip, coalesced writes, fsync only on flush, atomic
replacement, and every hostile state file ignored with one warning that never shows the handle."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgevoice.adapters.state_store import MAX_FILE_BYTES, MAX_HANDLE_CHARS, JsonStateStore
from edgevoice.ports import ResumptionHandle, SavedState

HANDLE = "Ch4KDHNlY3JldC1oYW5kbGUSDnZlcnktc2VjcmV0LTQy"  # what a leaked handle would look like
ISSUED = 1_767_225_600.5
LOGGER = "edgevoice.adapters.state_store"
HANG_GUARD = 20.0  # seconds; only a bound on a hang, never asserted as a duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingFsync:
    """The real os.fsync, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        os.fsync(fd)


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    yield caplog
    for record in caplog.records:  # whatever the test did, the handle never reached a log line
        assert HANDLE not in record.getMessage()


def warnings_in(records: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in records.records if r.levelno >= logging.WARNING]


def on_disk(directory: Path) -> SavedState:
    """What a fresh store (a restarted daemon) reads from `directory`."""
    return JsonStateStore(directory).load()


def write_state(directory: Path, document: object, mode: int = 0o600) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "state.json"
    path.write_text(json.dumps(document))
    path.chmod(mode)
    return path


def good_document() -> dict[str, object]:
    return {
        "version": 1,
        "resumption": {"handle": HANDLE, "issued_at": ISSUED},
        "muted": True,
        "volume": 35,
    }


def test_a_saved_state_survives_a_restart(
    tmp_path: Path, records: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "lib" / "edgevoice"  # created on the first write
    store = JsonStateStore(directory)
    assert store.load() == SavedState()
    store.save_resumption(ResumptionHandle(HANDLE, ISSUED))
    store.save_muted(True)
    store.save_volume(35)
    store.close()
    expected = SavedState(ResumptionHandle(HANDLE, ISSUED), muted=True, volume=35)
    assert on_disk(directory) == expected
    path = directory / "state.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == good_document()
    assert sorted(os.listdir(directory)) == ["state.json"]  # no temp file left behind
    assert warnings_in(records) == []


def test_the_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = JsonStateStore(tmp_path)
        store.save_muted(True)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600


def test_a_burst_of_handles_is_coalesced_and_never_fsynced_until_flush(tmp_path: Path) -> None:
    clock, fsync = Clock(), CountingFsync()
    store = JsonStateStore(tmp_path, write_interval=5.0, clock=clock, fsync=fsync)
    store.load()

    def handle(i: int) -> ResumptionHandle:
        return ResumptionHandle(f"{HANDLE}-{i}", ISSUED + i)

    def saved_handle() -> str | None:
        resumption = on_disk(tmp_path).resumption
        return None if resumption is None else resumption.value

    # gemini-3.1 pace: a handle every 0.9 s.
    for i in range(10):
        store.save_resumption(handle(i))
        if i == 0:
            assert saved_handle() == f"{HANDLE}-0"  # the first change after a quiet spell: now
        if i in (1, 5):
            assert saved_handle() == f"{HANDLE}-0"  # held back: 0.9 and 4.5 s since the write
        if i == 6:
            assert saved_handle() == f"{HANDLE}-6"  # 5.4 s since the last write
        clock.now += 0.9
    assert saved_handle() == f"{HANDLE}-6"
    store.write_if_due()  # 3.6 s after the last write: not yet
    assert saved_handle() == f"{HANDLE}-6"
    clock.now += 2.0
    store.write_if_due()
    assert saved_handle() == f"{HANDLE}-9"
    assert fsync.calls == 0  # no fsync for any of those writes
    store.flush()
    assert fsync.calls == 2  # the file and its directory
    store.flush()
    assert fsync.calls == 2  # nothing new: nothing to do
    clock.now += 5.0
    store.save_muted(True)  # 5 s after the flush's write: written at once, no fsync
    assert on_disk(tmp_path).muted is True
    assert fsync.calls == 2
    store.close()  # fsyncs what was written without it
    assert fsync.calls == 4
    assert on_disk(tmp_path) == SavedState(handle(9), muted=True)


def test_saving_the_same_state_again_writes_nothing(tmp_path: Path) -> None:
    clock = Clock()
    store = JsonStateStore(tmp_path, clock=clock)
    store.save_volume(50)
    path = tmp_path / "state.json"
    path.write_text("replaced by the test")  # would be overwritten by any write
    clock.now += 60
    store.save_volume(50)
    store.write_if_due()
    assert path.read_text() == "replaced by the test"


def test_after_close_saves_stay_in_memory(tmp_path: Path) -> None:
    store = JsonStateStore(tmp_path, write_interval=0)
    store.save_volume(20)
    store.close()
    store.save_volume(90)
    store.flush()
    store.close()
    assert store.state.volume == 90
    assert on_disk(tmp_path).volume == 20


def test_a_symlink_at_the_state_path_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / "state.json").symlink_to(victim)
    store = JsonStateStore(directory)
    store.save_muted(True)
    store.flush()
    assert victim.read_text() == "precious"
    assert not (directory / "state.json").is_symlink()
    assert on_disk(directory).muted is True


def test_a_handle_that_cannot_be_stored_is_not_saved_and_not_shown(
    tmp_path: Path, records: pytest.LogCaptureFixture
) -> None:
    store = JsonStateStore(tmp_path, write_interval=0)
    store.save_resumption(ResumptionHandle(HANDLE, ISSUED))
    store.save_resumption(ResumptionHandle(HANDLE + "\n" + HANDLE, ISSUED))
    assert on_disk(tmp_path).resumption is None  # the older handle is forgotten, not kept
    store.save_resumption(ResumptionHandle(HANDLE * 200, ISSUED))  # > MAX_HANDLE_CHARS
    assert len(HANDLE * 200) > MAX_HANDLE_CHARS
    messages = warnings_in(records)
    assert len(messages) == 2
    assert "printable ASCII" in messages[0]
    assert f"more than {MAX_HANDLE_CHARS}" in messages[1]


def test_the_handle_is_not_in_the_repr() -> None:
    text = repr(SavedState(ResumptionHandle(HANDLE, ISSUED)))
    assert HANDLE not in text and "issued_at=1767225600.5" in text
    assert ResumptionHandle(HANDLE, ISSUED).age(ISSUED + 60) == 60
    with pytest.raises(ValueError, match="empty"):
        ResumptionHandle("", ISSUED)
    with pytest.raises(ValueError, match="finite"):
        ResumptionHandle(HANDLE, float("nan"))


def test_volume_outside_0_to_100_is_refused(tmp_path: Path) -> None:
    store = JsonStateStore(tmp_path)
    for bad in (-1, 101, 50.0, True):
        with pytest.raises(ValueError, match="0 to 100"):
            store.save_volume(bad)  # type: ignore[arg-type]


def test_a_directory_that_cannot_be_written_is_logged_once_and_never_raises(
    tmp_path: Path, records: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    clock = Clock()
    store = JsonStateStore(blocker, write_interval=1.0, clock=clock)
    store.save_resumption(ResumptionHandle(HANDLE, ISSUED))
    for _ in range(5):
        clock.now += 2
        store.save_volume(int(clock.now) % 100)
        store.write_if_due()
    store.flush()
    store.close()
    messages = warnings_in(records)
    assert len(messages) == 1
    assert "cannot save the state to" in messages[0] and "kept in memory" in messages[0]
    assert store.state.resumption == ResumptionHandle(HANDLE, ISSUED)


# --------------------------------------------------------------------------------------------
# Hostile or broken state files: defaults, one warning line, no hang, no handle in the log.


def fifo(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    os.mkfifo(directory / "state.json")  # no writer: a blocking open() would never return
    return "a FIFO"


def symlink(directory: Path) -> str:
    target = write_state(directory.parent / "elsewhere", good_document())
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state.json").symlink_to(target)
    return "symbolic link"


def dangling_symlink(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state.json").symlink_to(directory / "nowhere")
    return "symbolic link"


def a_directory(directory: Path) -> str:
    (directory / "state.json").mkdir(parents=True)
    return "a directory"


def oversized(directory: Path) -> str:
    write_state(directory, good_document())
    with (directory / "state.json").open("a") as out:
        out.write(" " * MAX_FILE_BYTES)
    return f"more than {MAX_FILE_BYTES}"


def not_utf8(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state.json").write_bytes(b'{"version": 1, "muted": "\xff\xfe"}')
    (directory / "state.json").chmod(0o600)
    return "not UTF-8"


def truncated(directory: Path) -> str:  # what a power cut during a write can leave
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state.json").write_text(json.dumps(good_document())[:40])
    (directory / "state.json").chmod(0o600)
    return "not valid JSON"


def deeply_nested(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    depth = MAX_FILE_BYTES // 2 - 10
    (directory / "state.json").write_text("[" * depth + "]" * depth)
    (directory / "state.json").chmod(0o600)
    return "not valid JSON"


def huge_integer(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state.json").write_text('{"version": 1, "volume": ' + "9" * 20000 + "}")
    (directory / "state.json").chmod(0o600)
    return "not valid JSON"


def a_list(directory: Path) -> str:
    write_state(directory, [HANDLE])
    return "not a JSON object"


def another_version(directory: Path) -> str:
    write_state(directory, {**good_document(), "version": 2})
    return "not version 1"


def writable_by_others(directory: Path) -> str:
    write_state(directory, good_document(), mode=0o666)
    return "other users can write it"


def empty(directory: Path) -> str:
    write_state(directory, good_document())
    (directory / "state.json").write_text("")
    return "not valid JSON"


HOSTILE: dict[str, Callable[[Path], str]] = {
    "fifo": fifo,
    "symlink": symlink,
    "dangling_symlink": dangling_symlink,
    "directory": a_directory,
    "oversized": oversized,
    "not_utf8": not_utf8,
    "truncated": truncated,
    "deeply_nested": deeply_nested,
    "huge_integer": huge_integer,
    "a_list": a_list,
    "another_version": another_version,
    "writable_by_others": writable_by_others,
    "empty": empty,
}


def load_with_hang_guard(directory: Path) -> SavedState:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: JsonStateStore(directory).load()).result(HANG_GUARD)


@pytest.mark.parametrize("make", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_state_file_is_ignored_with_one_warning(
    tmp_path: Path, records: pytest.LogCaptureFixture, make: Callable[[Path], str]
) -> None:
    directory = tmp_path / "state"
    reason = make(directory)
    assert load_with_hang_guard(directory) == SavedState()
    messages = warnings_in(records)
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"ignoring the saved state in {directory / 'state.json'}: ")
    assert reason in messages[0]
    assert "\n" not in messages[0]
    # And the daemon goes on: the next save replaces whatever was there with a good file.
    store = JsonStateStore(directory, write_interval=0)
    store.load()
    store.save_volume(42)
    store.flush()
    assert reason == "a directory" or on_disk(directory).volume == 42


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_state_file_of_another_user_is_ignored(
    tmp_path: Path, records: pytest.LogCaptureFixture
) -> None:
    path = write_state(tmp_path, good_document())
    os.chown(path, 4242, 4242)
    assert JsonStateStore(tmp_path).load() == SavedState()
    (message,) = warnings_in(records)
    assert "belongs to uid 4242, not to this user (uid 0)" in message


def test_a_missing_file_is_a_fresh_start_not_a_warning(
    tmp_path: Path, records: pytest.LogCaptureFixture
) -> None:
    assert JsonStateStore(tmp_path / "never-made").load() == SavedState()
    assert warnings_in(records) == []
    assert any("starting fresh" in r.getMessage() for r in records.records)


@pytest.mark.parametrize(
    ("change", "bad"),
    [
        ({"muted": "yes"}, "muted"),
        ({"volume": 101}, "volume"),
        ({"volume": True}, "volume"),
        ({"resumption": "just-a-string"}, "resumption"),
        ({"resumption": {"handle": HANDLE + "\u2028", "issued_at": ISSUED}}, "resumption.handle"),
        ({"resumption": {"handle": "", "issued_at": ISSUED}}, "resumption.handle"),
        ({"resumption": {"handle": HANDLE, "issued_at": float("nan")}}, "resumption.issued_at"),
        ({"resumption": {"handle": HANDLE, "issued_at": "yesterday"}}, "resumption.issued_at"),
        ({"resumption": {"handle": HANDLE, "issued_at": ISSUED, "model": ""}}, "resumption.model"),
        ({"resumption": {"handle": HANDLE, "issued_at": ISSUED, "model": 38}}, "resumption.model"),
        (
            {"resumption": {"handle": HANDLE, "issued_at": ISSUED, "model": "m\x1b[2J"}},
            "resumption.model",
        ),
    ],
)
def test_a_bad_field_falls_back_alone_and_is_named(
    tmp_path: Path, records: pytest.LogCaptureFixture, change: dict[str, object], bad: str
) -> None:
    write_state(tmp_path, {**good_document(), **change})
    state = JsonStateStore(tmp_path).load()
    good = SavedState(ResumptionHandle(HANDLE, ISSUED), muted=True, volume=35)
    field = bad.split(".")[0]
    default = getattr(SavedState(), field)
    for name in ("resumption", "muted", "volume"):
        assert getattr(state, name) == (default if name == field else getattr(good, name))
    (message,) = warnings_in(records)
    assert f"bad value for {bad} (using the default for it)" in message


def test_the_model_that_issued_the_handle_is_saved_with_it(tmp_path: Path) -> None:
    store = JsonStateStore(tmp_path)
    store.load()
    store.save_resumption(ResumptionHandle(HANDLE, ISSUED, "gemini-3.1-flash-live-preview"))
    store.close()
    saved = json.loads((tmp_path / "state.json").read_text())["resumption"]
    assert saved["model"] == "gemini-3.1-flash-live-preview"
    loaded = JsonStateStore(tmp_path).load().resumption
    assert loaded is not None and loaded.model == "gemini-3.1-flash-live-preview"
