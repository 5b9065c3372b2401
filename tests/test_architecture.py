"""The map of the house (BRIEF.md) holds: import contracts in setup.cfg, and a core that loads no UI framework."""

from __future__ import annotations

import configparser
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP_CFG = ROOT / "setup.cfg"
UI_FRAMEWORKS = ("dash", "flask", "plotly", "werkzeug")


def core_modules() -> list[str]:
    """Every module of the core, as setup.cfg's first contract lists them (packages walked)."""
    parser = configparser.ConfigParser()
    parser.read(SETUP_CFG)
    names = parser["importlinter:contract:core-without-ui-frameworks"]["source_modules"].split()
    modules = []
    for name in names:
        modules.append(name)
        path = ROOT / name.replace(".", "/")
        if path.is_dir():
            modules += [info.name for info in pkgutil.walk_packages([str(path)], prefix=f"{name}.")]
    return modules


def test_import_contracts_are_kept():
    """Core never imports web or ui, the web layer never imports ui, layouts never import callbacks,
    and no two sibling modules or packages import each other (import-linter, in its own process:
    its command line reconfigures logging)."""
    check = ("import sys; from importlinter.cli import lint_imports; "
             f"sys.exit(lint_imports({str(SETUP_CFG)!r}, no_cache=True))")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_core_modules_load_no_ui_framework_in_a_fresh_interpreter():
    """Importing a core module, parents included (app/__init__.py), loads neither Dash nor Flask nor Plotly."""
    modules = core_modules()
    assert {"app.points", "app.store.memory", "app.ingest.__main__", "app.sources.mqtt"} <= set(modules)
    probe = (
        "import importlib, json, sys\n"
        f"frameworks = {UI_FRAMEWORKS!r}\n"
        "loaded = {}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    loaded[name] = sorted(f for f in frameworks if f in sys.modules)\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert {name: found for name, found in loaded.items() if found} == {}
