"""Extras: a collector-only install pulls none of the heavy packages; a missing extra is one line.

`make test` has pip resolve `pip install '.[collector]'` against the index
(`pip install --dry-run --report`, Makefile target `.venv/collector-resolution.json`);
this test reads that report offline, checks it was resolved from the pyproject.toml in
the tree, and cross-checks it with the requirement graph of the installed distributions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.support.cli import REPO

REPORT = REPO / ".venv" / "collector-resolution.json"
HEAVY = {"chdb", "chdb-core", "pandas", "pyarrow", "matplotlib", "clickhouse-connect", "grafana-client"}
COLLECTOR_NEEDS = {"nvidia-ml-py", "kafka-python", "prometheus-client", "msgspec"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def resolution() -> dict[str, Any]:
    if not REPORT.is_file():
        pytest.fail(f"{REPORT} missing: `make .venv/collector-resolution.json` (part of `make test`) writes it")
    report: dict[str, Any] = json.loads(REPORT.read_text())
    return report


def test_pip_resolves_the_collector_extra_without_heavy_packages() -> None:
    report = resolution()
    installed = {canonical(item["metadata"]["name"]) for item in report["install"]}
    root = next(item for item in report["install"] if canonical(item["metadata"]["name"]) == "gpufleet")
    assert root["requested_extras"] == ["collector"]
    # resolved from this tree's pyproject.toml, not a stale one
    project = pyproject()["project"]
    declared = {str(Requirement(r)) for r in project["dependencies"]} | {
        f'{Requirement(r)}; extra == "collector"' for r in project["optional-dependencies"]["collector"]
    }
    resolved = {str(Requirement(r)) for r in root["metadata"]["requires_dist"] if "extra" not in r or '"collector"' in r}
    assert resolved == declared, "re-run `make .venv/collector-resolution.json`: pyproject.toml changed"
    assert not installed & HEAVY, f"a collector install would pull {sorted(installed & HEAVY)}"
    assert installed >= COLLECTOR_NEEDS | {"gpufleet"}


def closure(requirement: str, extras: set[str] | None = None, seen: set[str] | None = None) -> set[str]:
    """Distributions `requirement` pulls in, from the installed metadata (offline)."""
    seen = set() if seen is None else seen
    req = Requirement(requirement)
    name = canonical(req.name)
    wanted_extras = set(req.extras) | (extras or set())
    key = f"{name}[{','.join(sorted(wanted_extras))}]"
    if key in seen:
        return set()
    seen.add(key)
    out = {name}
    for raw in metadata.requires(req.name) or []:
        dep = Requirement(raw)
        env = {"python_version": f"{sys.version_info.major}.{sys.version_info.minor}"}
        if dep.marker is not None and not any(dep.marker.evaluate({**env, "extra": e}) for e in wanted_extras | {""}):
            continue
        out |= closure(str(Requirement(f"{dep.name}[{','.join(sorted(dep.extras))}]" if dep.extras else dep.name)), None, seen)
    return out


def test_installed_metadata_agrees_collector_pulls_nothing_heavy() -> None:
    pulled = closure("gpufleet[collector]")
    assert not pulled & HEAVY, sorted(pulled & HEAVY)
    assert pulled >= COLLECTOR_NEEDS
    # and the test is able to see heavy packages where an extra does bring them
    assert {"chdb", "pandas", "pyarrow"} <= closure("gpufleet[embedded]")


def test_a_missing_extra_is_one_line_naming_it() -> None:
    # a fresh interpreter where `import kafka` fails, as on an install without the extra
    code = (
        "import sys; sys.modules['kafka'] = None; from gpufleet.app.cli import main; "
        "sys.exit(main(['collect', '--source', 'synthetic', '--kafka', '127.0.0.1:1', '--duration', '1']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert err.splitlines() == [err]
    assert "pip install 'gpufleet[collector]'" in err and "'kafka'" in err


def test_license_is_an_spdx_string_with_the_file() -> None:
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert (REPO / "LICENSE").read_text().split()[:3] == ["Apache", "License", "Version"]
    assert metadata.metadata("gpufleet")["License-Expression"] == "Apache-2.0"


def test_every_extra_is_documented() -> None:
    docs = (REPO / "docs" / "dependencies.md").read_text()
    for extra in pyproject()["project"]["optional-dependencies"]:
        assert f"`{extra}`" in docs, extra
