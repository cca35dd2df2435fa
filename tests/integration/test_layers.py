"""The import contract of docs/architecture.md holds, and a wrong import breaks it.

`lint-imports` reads the real import graph (grimp), so these tests run it on this tree and on a
copy of it with one deliberately wrong import added.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import REPO

PACKAGES = ("gpufleet", "collectors", "pipeline", "storage", "dashboards")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, check=False)


def copy_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        ("pipeline/memory.py", "import storage.clickhouse", "pipeline sees storage only through the Store seam"),
        ("collectors/agent.py", "import storage.base", "collectors never touch storage"),
        ("storage/queries.py", "import pipeline.ingest", "app above the stages"),
        ("gpufleet/contract/times.py", "import gpufleet.app.logs", "app above the stages"),
        ("dashboards/rule.py", "import collectors.base", "app above the stages"),
    ],
)
def test_a_wrong_import_breaks_its_contract(tmp_path: Path, module: str, wrong_import: str, contract: str) -> None:
    root = copy_tree(tmp_path)
    with (root / module).open("a", encoding="utf-8") as f:
        f.write(f"\n{wrong_import}  # deliberately wrong\n")
    result = lint_imports(root)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert module.removesuffix(".py").replace("/", ".") in broken
