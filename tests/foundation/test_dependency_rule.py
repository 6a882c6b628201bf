"""DESIGN.md section 2: the layers, as a test that fails when a module crosses one.

Every module of the package is put in a layer by where it lives, so a new file is checked the
day it is written:

- core: the top-level modules (config, config_rules, errors, ports, credentials, redact, limits,
  control_protocol), `audio/` and `live/`. Pure: the standard library minus its I/O modules,
  numpy, and other core modules.
- adapters (`adapters/`): core, other adapters and the I/O libraries; never app, commands,
  simulator, bench or the CLI.
- app (`app/`): core, adapters and app; never commands, the simulator, bench or the CLI.
- simulator (`sim/`): nothing of the client (`edgevoice.live`, `edgevoice.adapters`, app,
  commands), so it stays an independent check of it; only the shared redaction registry of the
  core, so a key it was given is scrubbed from its logs too.
- bench (`bench/`): core, bench (plus its reference libraries), and the rig, the adapters and
  the simulator for the measurements through the daemon process; never app (it measures the
  daemon from outside, as a process) or commands.
- rig (`rig/`): the real-time audio rig (sound server, speech, the daemon as a process, the
  simulator's record): core, adapters, the simulator and rig; never app (it runs the daemon as
  a process, as systemd does, and never reaches into it), commands, bench or the CLI. Only
  commands, bench, soak (and tests) import it: nothing the daemon runs depends on it.
- soak (`soak/`): the soak and fault run: like bench, the rig, the simulator, the adapters and
  core; never app (it runs the daemon as a process) or commands.
- commands (`commands/`): anything but the CLI; only the CLI (`cli.py`) imports commands.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "edgevoice"

CORE_TOP_LEVEL = {
    "config",
    "config_rules",
    "errors",
    "ports",
    "credentials",
    "redact",
    "limits",
    "control_protocol",
    "__init__",
}
LAYER_DIRS = {
    "audio": "core",
    "live": "core",
    "adapters": "adapters",
    "app": "app",
    "sim": "sim",
    "bench": "bench",
    "rig": "rig",
    "soak": "soak",
    "commands": "commands",
}
# What each layer may import from the package, by layer; "sim" lists module names instead.
MAY_IMPORT: dict[str, set[str]] = {
    "core": {"core"},
    "adapters": {"core", "adapters"},
    "app": {"core", "adapters", "app"},
    "bench": {"core", "adapters", "sim", "rig", "bench"},
    "rig": {"core", "adapters", "sim", "rig"},
    "soak": {"core", "adapters", "sim", "rig", "soak"},
    "commands": {"core", "adapters", "app", "sim", "bench", "rig", "soak", "commands"},
    "cli": {"core", "commands", "cli"},
}
SIM_MAY_IMPORT = {"edgevoice.redact", "edgevoice"}  # the package itself: __version__ only
IO_MODULES = {
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
    "os",
    "io",
    "shutil",
    "tempfile",
    "signal",
    "threading",
}
# redact's lock guards the registry against log records from PortAudio and gpiozero threads.
CORE_EXCEPTIONS = {("edgevoice.redact", "threading")}
CORE_THIRD_PARTY = {"numpy"}


def all_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        name = ".".join(("edgevoice", *parts)) if parts != ("__init__",) else "edgevoice"
        modules[name] = path
    return modules


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "core"  # the package's __init__: the version only
    if len(parts) == 2 and parts[1] in ("cli", "__main__"):
        return "cli"
    if len(parts) == 2 and parts[1] in CORE_TOP_LEVEL:
        return "core"
    layer = LAYER_DIRS.get(parts[1])
    if layer is None:
        raise AssertionError(
            f"{module} is in no layer: put it in a layer's folder, or list it in CORE_TOP_LEVEL"
        )
    return layer


def imports_of(path: Path) -> set[str]:
    """Absolute module names a file imports, at any depth (lazy imports inside functions too)."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module.split(".")[0] == "edgevoice":  # `from edgevoice.audio import dsp`
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            args = node.args
            if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                names.add(args[0].value)
    return names


def crossings(module: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """Every import of `module` that its layer forbids, as readable lines."""
    layer = layer_of(module)
    problems: dict[str, None] = {}  # ordered and without repeats
    for imported in sorted(imports_of(path)):
        top = imported.split(".")[0]
        if top == "edgevoice":
            if imported not in modules:
                continue  # `edgevoice.x.name` for `from edgevoice.x import name`: x counts
            target = imported
            target_layer = layer_of(target)
            if layer == "sim":
                if target_layer != "sim" and target not in SIM_MAY_IMPORT:
                    problems[f"{module} (sim) imports {target} ({target_layer})"] = None
            elif target_layer not in MAY_IMPORT[layer]:
                problems[f"{module} ({layer}) imports {target} ({target_layer})"] = None
            continue
        if layer != "core":
            continue
        if (module, top) in CORE_EXCEPTIONS:
            continue
        if imported in IO_MODULES or top in IO_MODULES:
            problems[f"{module} (core) imports the I/O module {imported}"] = None
        elif top not in sys.stdlib_module_names and top not in CORE_THIRD_PARTY:
            problems[f"{module} (core) imports the third-party {imported}"] = None
    return list(problems)


MODULES = all_modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_stays_in_its_layer(module: str) -> None:
    assert crossings(module, MODULES[module], MODULES) == []


def test_every_layer_is_populated() -> None:
    layers = {layer_of(m) for m in MODULES}
    assert {"core", "adapters", "app", "sim", "bench", "rig", "commands", "cli"} <= layers


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("edgevoice.live.session", "import asyncio\n", "I/O module asyncio"),
        ("edgevoice.live.session", "import websockets\n", "I/O module websockets"),
        ("edgevoice.config", "import yaml\n", "third-party yaml"),
        ("edgevoice.live.session", "from edgevoice.adapters.ws import Endpoint\n", "(adapters)"),
        ("edgevoice.audio.dsp", "from edgevoice.app import session_config\n", "(app)"),
        ("edgevoice.adapters.ws", "from edgevoice.app.session_config import x\n", "(app)"),
        ("edgevoice.adapters.ws", "from edgevoice.sim import Simulator\n", "(sim)"),
        ("edgevoice.app.session_config", "from edgevoice.commands import run\n", "(commands)"),
        ("edgevoice.sim.session", "from edgevoice.live.frames import x\n", "(core)"),
        ("edgevoice.sim.server", "from edgevoice.adapters.ws import x\n", "(adapters)"),
        ("edgevoice.bench.resampler", "from edgevoice.app import daemon\n", "(app)"),
        ("edgevoice.commands.run", "from edgevoice.cli import main\n", "(cli)"),
        ("edgevoice.rig.daemon", "from edgevoice.app.daemon import Daemon\n", "(app)"),
        ("edgevoice.rig.daemon", "from edgevoice.commands import run\n", "(commands)"),
        ("edgevoice.rig.daemon", "from edgevoice.bench import measure\n", "(bench)"),
        ("edgevoice.app.daemon", "from edgevoice.rig import RtAudio\n", "(rig)"),
        ("edgevoice.adapters.ws", "from edgevoice.rig.pulse import PulseServer\n", "(rig)"),
        ("edgevoice.sim.server", "from edgevoice.rig.wire import wire\n", "(rig)"),
        ("edgevoice.bench.measure", "from edgevoice.commands import demo\n", "(commands)"),
        ("edgevoice.live.session", "def f():\n    import socket\n", "I/O module socket"),
        (
            "edgevoice.adapters.ws",
            "import importlib\nimportlib.import_module('edgevoice.commands.run')\n",
            "(commands)",
        ),
    ],
)
def test_the_rule_can_fail(tmp_path: Path, module: str, source: str, expected: str) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(source)
    found = crossings(module, bad, MODULES)
    assert found and all(expected in line for line in found), found


def test_a_module_outside_every_layer_is_reported() -> None:
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("edgevoice.somewhere_new")
