"""The layers contract (``.importlinter``, run by ``make lint``) holds on this tree and bites: a copy in which a
lower layer imports a higher one fails it, naming the import; so does a lazy import inside a function."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def _copy(tmp_path: Path) -> Path:
    for package in ("dispatch", "web", "workers", "qr"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("static", "data", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess:
    # the copy first on the path: the packages analysed are the copy's, not the installed tree's
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "HOME": str(tree)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return _copy(tmp_path_factory.mktemp("layers"))


def test_the_tree_keeps_its_layers(tree):
    out = _lint(tree)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        # the state machine calling a feature instead of being subscribed to
        ("dispatch/cases/states.py", "from dispatch.callbacks import flows as _callbacks\n", "dispatch.callbacks"),
        # a lazy import inside a function counts too
        (
            "dispatch/deadlines/policy.py",
            "\n\ndef _late():\n    from dispatch.cases import handling\n\n    return handling\n",
            "dispatch.cases.handling",
        ),
        # infrastructure reaching up into dispatching
        ("dispatch/events/service.py", "import dispatch.dispatching.service\n", "dispatch.dispatching.service"),
    ],
)
def test_a_lower_layer_importing_a_higher_one_fails_the_lint(tree, tmp_path, module, line, named):
    broken = _copy(tmp_path)
    path = broken / module
    path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")
    out = _lint(broken)
    assert out.returncode != 0 and "0 kept, 1 broken" in out.stdout, out.stdout + out.stderr
    assert named in out.stdout
