"""Find and read the config file safely, and turn CLI arguments into a Config.

Which file: `--config FILE`, else `$EDGEVOICE_CONFIG`, else /etc/edgevoice/edgevoice.toml. A
missing default file means "all defaults" (a fresh install runs); a missing file that was named
is an error that says who named it, so the fix is in the right place.

What is refused before anything is read or parsed, each as a config problem naming who chose the
file (`--config`, `$EDGEVOICE_CONFIG`) and how to fix it:

- Anything that is not a regular file. `open()` on a FIFO with no writer blocks for ever; a
  device or a socket is never a config. The type is checked with `stat` before the file is
  opened, and again on the open descriptor (opened non-blocking, so a FIFO swapped in between
  cannot hang us either). `/dev/null` is accepted as an empty config: it is the usual way to say
  "no file, defaults only".
- A file over MAX_CONFIG_BYTES, not UTF-8, or whose shape would make the TOML parser slow or
  crash (`shape_problem`): tomllib is quadratic in the parts of a dotted key (a 195 KiB config
  with one key of 100,000 parts took 24 GB) and recursive in nesting (RecursionError).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edgevoice.config import DEFAULT_CONFIG_PATH, Config, parse_config
from edgevoice.errors import ConfigError
from edgevoice.redact import printable

ENV_CONFIG = "EDGEVOICE_CONFIG"
# A full config with every key documented is under 10 KiB; the longest value (a system
# instruction) is at most 32768 characters.
MAX_CONFIG_BYTES = 256 * 1024
MAX_LINE = 66_000  # characters: a 32768-character instruction on one line, all of it escaped
MAX_KEY_PARTS = 8  # the schema needs 2 ("live.model = ..." at the top level)
MAX_NESTING = 8  # arrays and tables inside each other; the schema needs 1
DEV_NULL = "/dev/null"


@dataclass(frozen=True)
class ConfigLocation:
    """Where the config comes from. `named_by`: "--config", "$EDGEVOICE_CONFIG", or None for
    the default path (which may be absent)."""

    path: str
    named_by: str | None

    @property
    def key(self) -> str:
        """What a problem with the file itself is reported under."""
        return self.named_by or "(file)"

    @property
    def fix(self) -> str:
        if self.named_by == "--config":
            return "fix --config"
        if self.named_by is not None:
            return f"fix or unset {ENV_CONFIG}"
        return "fix the file"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated Config and which file it was read from (`path` None: defaults only)."""

    config: Config
    location: ConfigLocation
    path: str | None

    def describe(self) -> str:
        """One line for people: the file read, or why none was."""
        shown = printable(self.location.path)
        if self.path is not None:
            return shown
        return f"none ({shown} does not exist; built-in defaults)"


def config_location(
    explicit: str | None, environ: Mapping[str, str] | None = None
) -> ConfigLocation:
    env = os.environ if environ is None else environ
    if explicit:
        return ConfigLocation(explicit, "--config")
    if env.get(ENV_CONFIG):
        return ConfigLocation(env[ENV_CONFIG], f"${ENV_CONFIG}")
    return ConfigLocation(DEFAULT_CONFIG_PATH, None)


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _is_dev_null(st: os.stat_result) -> bool:
    try:
        null = os.stat(DEV_NULL)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev


def read_config_text(location: ConfigLocation) -> str | None:
    """The file's text; None when the default file is absent. ConfigError for everything else
    that is wrong with the file, before its content is parsed."""
    path, shown = location.path, printable(location.path)

    def refuse(message: str) -> ConfigError:
        return ConfigError.single(location.key, f"{shown} {message}")

    try:
        before = os.stat(path)
    except FileNotFoundError:
        if location.named_by is None:
            return None
        if location.named_by == "--config":
            raise refuse(
                "does not exist; copy deploy/edgevoice.toml there or fix --config"
            ) from None
        raise refuse(
            f"does not exist (named by ${ENV_CONFIG}); create it or unset {ENV_CONFIG}"
        ) from None
    except PermissionError:
        raise refuse(
            "is not readable by this user (a directory on the way is closed); chmod 0755 "
            "the directories and 0644 the file, or run as root"
        ) from None
    except OSError as exc:
        raise refuse(f"cannot be read: {exc.strerror}; {location.fix}") from None
    if stat.S_ISDIR(before.st_mode):
        raise refuse(f"is a directory, not a TOML file; {location.fix}")
    null = _is_dev_null(before)
    if not stat.S_ISREG(before.st_mode) and not null:
        raise refuse(f"is {_kind(before.st_mode)}, not a regular file; {location.fix}")
    if before.st_size > MAX_CONFIG_BYTES:
        raise refuse(f"is larger than {MAX_CONFIG_BYTES // 1024} KiB; is it the right file?")
    raw = _read_regular(path, refuse, allow_null=null)
    if len(raw) > MAX_CONFIG_BYTES:
        raise refuse(f"is larger than {MAX_CONFIG_BYTES // 1024} KiB; is it the right file?")
    try:
        text = raw.decode("utf-8-sig")  # an editor's byte-order mark is not a TOML error
    except UnicodeDecodeError as exc:
        raise refuse(f"is not UTF-8 (bad byte at offset {exc.start})") from None
    problem = shape_problem(text)
    if problem is not None:
        raise refuse(f"{problem}; is it the right file?")
    return text


def _read_regular(path: str, refuse: Callable[[str], ConfigError], *, allow_null: bool) -> bytes:
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise refuse("is not readable by this user; chmod 0644 it or run as root") from None
    except OSError as exc:
        raise refuse(f"cannot be read: {exc.strerror}") from None
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) and not (allow_null and _is_dev_null(now)):
            raise refuse(f"is {_kind(now.st_mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES:
            try:
                chunk = os.read(fd, 64 * 1024)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:  # cannot happen on a regular file; never wait
                    break
                raise refuse(f"cannot be read: {exc.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# What the shape scan stops at outside strings and comments.
_SPECIAL = re.compile(r"[\"'#\[\]{}=,.\n]")
_BASIC_END = re.compile(r'(?:[^"\\\n]|\\[^\n])*\\?(?:"|(?=\n)|$)')
_LITERAL_END = re.compile(r"[^'\n]*(?:'|(?=\n)|$)")
_ML_BASIC_END = re.compile(r'(?:[^"\\]|\\.|"(?!""))*\\?(?:"""|$)', re.DOTALL)
_ML_LITERAL_END = re.compile(r"(?:[^']|'(?!''))*(?:'''|$)", re.DOTALL)


def shape_problem(text: str) -> str | None:
    """Why `text` must not reach the TOML parser (too large, a line too long, a dotted key of
    too many parts, nesting too deep), or None. Pure, linear in the text.

    The scan skips strings and comments and watches the rest: a dotted key's dots all fall
    between two of `[ { = ,` or a line end (a value has at most one dot, as in 1.5), and every
    `[` or `{` nests one level.
    """
    if len(text) > MAX_CONFIG_BYTES:
        return f"is larger than {MAX_CONFIG_BYTES // 1024} KiB"
    for number, content in enumerate(text.split("\n"), 1):
        if len(content) > MAX_LINE:
            return f"has a line of {len(content)} characters (line {number}; at most {MAX_LINE})"
    depth = dots = 0
    line = 1
    at, end = 0, len(text)
    while at < end:
        match = _SPECIAL.search(text, at)
        if match is None:
            break
        char, at = match.group(), match.end()
        if char == "\n":
            line, dots = line + 1, 0
        elif char == "#":
            newline = text.find("\n", at)
            at = end if newline < 0 else newline
        elif char in "\"'":
            string = _string_end(text, at - 1, char)
            line += text.count("\n", at, string)
            at = string
        elif char in "[{":
            depth, dots = depth + 1, 0
            if depth > MAX_NESTING:
                return f"nests arrays or tables more than {MAX_NESTING} deep (line {line})"
        elif char in "]}":
            depth, dots = max(0, depth - 1), 0
        elif char in "=,":
            dots = 0
        else:  # "."
            dots += 1
            if dots >= MAX_KEY_PARTS:
                return f"has a dotted key of more than {MAX_KEY_PARTS} parts (line {line})"
    return None


def _string_end(text: str, start: int, quote: str) -> int:
    """The index just after the string that opens at `start` (or where it breaks off)."""
    if text.startswith(quote * 3, start):
        pattern = _ML_BASIC_END if quote == '"' else _ML_LITERAL_END
        match = pattern.match(text, start + 3)
        assert match is not None  # every pattern can match the empty string
        after = match.end()
        while after < len(text) and text[after] == quote and after - match.end() < 2:
            after += 1  # up to two quotes may end the content right before the delimiter
        return after
    pattern = _BASIC_END if quote == '"' else _LITERAL_END
    match = pattern.match(text, start + 1)
    assert match is not None
    return match.end()


def load_config(
    explicit: str | None, overrides: list[str], environ: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Find, read and validate the configuration. Raises ConfigError naming every problem."""
    location = config_location(explicit, environ)
    text = read_config_text(location)
    config = parse_config(text, location.path, overrides)
    return LoadedConfig(config, location, location.path if text is not None else None)


def load_config_from_args(args: argparse.Namespace) -> LoadedConfig:
    """The configuration for a subcommand's parsed arguments (`--config`, `--set`)."""
    return load_config(args.config, list(args.overrides))
