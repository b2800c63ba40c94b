"""Layers: services never import Textual; plain verbs start without it."""

from __future__ import annotations

import subprocess
import sys

import pytest


def imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "module",
    [
        "kgop_tui.services",
        "kgop_tui.services.docker.docker_engine",
        "kgop_tui.cli",
        "kgop_tui.render",
        "kgop_tui.settings",
    ],
)
def test_module_does_not_import_textual(module: str) -> None:
    modules = imported_after(f"import {module}")
    assert "textual" not in modules


def test_services_import_no_textual_at_all() -> None:
    modules = imported_after(
        "import importlib, pkgutil, kgop_tui.services as s\n"
        "for m in pkgutil.walk_packages(s.__path__, 'kgop_tui.services.'):\n"
        "    importlib.import_module(m.name)"
    )
    assert not {m for m in modules if m == "textual" or m.startswith("textual.")}


def test_package_version_matches_the_version_file() -> None:
    from pathlib import Path

    import kgop_tui

    version_file = Path(__file__).resolve().parents[2] / "VERSION"
    assert kgop_tui.__version__ == version_file.read_text().strip()


def test_screens_and_widgets_reach_no_engine_and_no_service() -> None:
    """The TUI reaches Docker and Postgres only through the ports it is given."""
    modules = imported_after(
        "import importlib, pkgutil, kgop_tui.app, kgop_tui.screens as s, kgop_tui.widgets as w\n"
        "for p in (s, w):\n"
        "    for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'):\n"
        "        importlib.import_module(m.name)"
    )
    engines = {"docker", "asyncpg", "cryptography", "bcrypt"}
    assert not {m for m in modules if m.split(".")[0] in engines}
    assert not {m for m in modules if m.startswith("kgop_tui.services")}


def _imports(path: object) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(str(path)).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("layer", ["services", "screens", "widgets"])
def test_no_layer_below_the_cli_imports_the_cli(layer: str) -> None:
    """Services, screens and widgets receive what they need: none of them reaches up
    into ``kgop_tui.commands`` (the CLI), even inside a function."""
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "kgop_tui" / layer
    offenders = {
        str(path.relative_to(package.parent)): sorted(
            name for name in _imports(path) if name.startswith("kgop_tui.commands")
        )
        for path in package.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_module_of_kgop_its_stand_ins_or_its_installer_passes_400_lines() -> None:
    """A module past ~400 lines holds more than one idea: split it by meaning."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    files = [
        *(root / "kgop_tui").rglob("*.py"),
        *(root / "images").rglob("*.py"),
        *(root / "install.d").glob("*.sh"),
    ]
    long = {
        str(f.relative_to(root)): n for f in files if (n := len(f.read_text().splitlines())) > 400
    }
    assert not long
