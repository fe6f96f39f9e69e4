"""The package's rooms import one way (pipeline → audiogen, lower rooms never higher ones), and the
CLIs answer `--help` without loading torch, transformers or ray."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Lower number = lower room. A module may import its own room and any room with a smaller number.
ROOMS = {"io": 0, "speech": 1, "text": 1, "codec": 2, "lm": 2, "data": 3, "training": 4,
         "generation": 5, "convert": 5, "evaluation": 6}
ENTRY_MODULES = {"train", "generate", "evaluate", "convert", "__init__"}  # thin `python -m` entries


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "audiogen" else None


def test_every_module_sits_in_a_room():
    loose = [p.name for p in (REPO / "audiogen").glob("*.py") if p.stem not in ENTRY_MODULES]
    assert not loose, f"modules outside a room: {loose}"
    rooms = {p.name for p in (REPO / "audiogen").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert rooms <= set(ROOMS), f"rooms without a place in the import order: {rooms - set(ROOMS)}"
    for room in rooms:
        doc = ast.get_docstring(ast.parse((REPO / "audiogen" / room / "__init__.py").read_text()))
        first = doc.split("\n\n")[0] if doc else ""
        assert first and len(first.splitlines()) <= 3 and "import" in first.lower(), \
            f"audiogen/{room}/__init__.py: its docstring's first lines say what lives there and what it may import"


def test_imports_go_one_way():
    wrong = []
    for path in sorted((REPO / "audiogen").rglob("*.py")):
        rel = path.relative_to(REPO / "audiogen")
        if len(rel.parts) == 1:
            continue  # entry modules may import any room
        here = rel.parts[0]
        for mod in _imports(path):
            if mod == "pipeline" or mod.startswith("pipeline."):
                wrong.append(f"{rel} imports {mod} (audiogen never imports pipeline)")
            room = _room(mod)
            if room and room != here and ROOMS.get(room, 99) >= ROOMS[here]:
                wrong.append(f"{rel} ({here}) imports {mod} ({room})")
    assert not wrong, "\n".join(wrong)


def test_a_layout_check_catches_a_wrong_import(tmp_path):
    # The check above must be able to fail: an io module importing training is caught.
    bad = tmp_path / "bad.py"
    bad.write_text("from audiogen.training.loop import main\n")
    assert ROOMS[_room(_imports(bad)[0])] > ROOMS["io"]


@pytest.mark.parametrize("module", ["audiogen.train", "audiogen.generate", "audiogen.evaluate",
                                    "audiogen.codec.train", "audiogen.evaluation.tagger.train",
                                    "audiogen.convert"])
def test_cli_help_loads_no_heavy_library(module):
    code = (f"import sys, runpy; sys.argv = ['x', '--help']\n"
            f"try:\n    runpy.run_module({module!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'ray') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "usage:" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY=", out.stdout[-300:]
