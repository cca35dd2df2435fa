"""Deployment artifacts, each checked by a tool made for it where one runs here.

- systemd units: `systemd-analyze verify` (Debian's systemd), no warning allowed;
- the Kubernetes manifest: the Kubernetes 1.37 OpenAPI schema in strict mode (no unknown
  field) through kubernetes-validate, plus what the collector needs of it;
- Dockerfiles: no linter runs here (hadolint is not in a registry we reach), so the layer
  order and the pins are checked from the files themselves.
Every command line in them is parsed by the real CLI.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement

from gpufleet.app.cli import _commands, build_parser
from tests.support.cli import REPO

UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))
MANIFEST = REPO / "deploy" / "kubernetes" / "gpufleet-collector.yaml"
HEAVY = {"chdb", "chdb-core", "pandas", "pyarrow", "matplotlib", "clickhouse-connect", "grafana-client"}


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.fail("systemd-analyze missing: Debian's systemd package (scripts/install-test-services)")
    return found


def installable(unit: Path, tmp: Path) -> Path:
    """The unit as installed: ExecStart's /opt/gpufleet/bin/gpufleet is this venv's (verify checks it
    is executable), and a template gets an instance name. Nothing else changes."""
    name = unit.name.replace("@.", "@1.")
    text = unit.read_text().replace("/opt/gpufleet/bin/gpufleet", str(Path(sys.executable).parent / "gpufleet"))
    (tmp / name).write_text(text)
    return tmp / name


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([systemd_analyze(), "verify", str(path)], capture_output=True, text=True, timeout=60, check=False)


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    assert {u.name for u in UNITS} == {"gpufleet-collector.service", "gpufleet-ingest@.service", "gpufleet-bridge.service"}
    for unit in UNITS:
        proc = verify(installable(unit, tmp_path))
        assert proc.returncode == 0 and not proc.stderr.strip(), f"{unit.name}: {proc.stderr}"
    # the check is able to fail: a misspelt directive is reported
    broken = tmp_path / "broken.service"
    broken.write_text(installable(UNITS[0], tmp_path).read_text().replace("MemoryMax=", "MemoryMaxx="))
    assert "Unknown key 'MemoryMaxx'" in verify(broken).stderr


def exec_start(unit: Path) -> list[str]:
    line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    words = shlex.split(line.removeprefix("ExecStart="))
    assert words[0] == "/opt/gpufleet/bin/gpufleet"
    # environment substitutions stand for flags the site adds (collector.env); drop or fill them
    words = [w for w in words[1:] if w != "$GPUFLEET_COLLECT_ARGS"]
    return [re.sub(r"\$\{GPUFLEET_KAFKA__BOOTSTRAP\}", "kafka-1:9092", w).replace("%i", "1") for w in words]


def test_unit_commands_are_valid_invocations() -> None:
    parser = build_parser(_commands())
    commands = {u.name: parser.parse_args(exec_start(u)) for u in UNITS}
    collector = commands["gpufleet-collector.service"]
    assert (collector.command, collector.source, collector.metrics_port, collector.kafka) == ("collect", "nvml", 9400, None)
    assert commands["gpufleet-ingest@.service"].metrics_port == 9101
    assert commands["gpufleet-bridge.service"].kafka == "kafka-1:9092"


def manifest() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def test_kubernetes_manifest_is_valid_against_the_openapi_schema() -> None:
    documents = manifest()
    assert [d["kind"] for d in documents] == ["Namespace", "DaemonSet", "Service"]
    for document in documents:
        kubernetes_validate.validate(document, "1.37.0", strict=True)
    # strict mode refuses what Kubernetes would silently drop
    daemonset = documents[1]
    daemonset["spec"]["template"]["spec"]["containers"][0]["resource"] = {"limits": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(daemonset, "1.37.0", strict=True)


def test_daemonset_runs_the_collector_on_gpu_nodes_only() -> None:
    daemonset = manifest()[1]
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    (container,) = pod["containers"]
    args = build_parser(_commands()).parse_args(container["args"])
    assert (args.command, args.source) == ("collect", "nvml")
    port = next(p for p in container["ports"] if p["name"] == "metrics")
    assert port["containerPort"] == args.metrics_port == 9400
    assert container["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    assert set(limits) == set(requests) == {"cpu", "memory"}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "pod-resources"]
    assert mount == {"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True}
    (volume,) = [v for v in pod["volumes"] if v["name"] == "pod-resources"]
    assert volume["hostPath"]["path"] == "/var/lib/kubelet/pod-resources"
    assert "nvidia.com/gpu" not in str(container["resources"]), "requesting a GPU would take one from the workloads"
    node_env = next(e for e in container["env"] if e["name"] == "GPUFLEET_NODE__NODE")
    assert node_env["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"].startswith("gpufleet-collector:")


def dockerfile(name: str) -> list[str]:
    lines = (REPO / name).read_text().replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize(("name", "extra"), [("Dockerfile", "all"), ("Dockerfile.collector", "collector")])
def test_images_install_pinned_dependencies_before_the_source(name: str, extra: str) -> None:
    lines = dockerfile(name)
    first_source = next(i for i, line in enumerate(lines) if re.match(r"COPY (gpufleet|collectors|pipeline) ", line))
    deps = next(i for i, line in enumerate(lines) if line.startswith(f"RUN pip install --quiet -r constraints/{extra}.txt"))
    assert deps < first_source, "a code change must not re-download the dependencies"
    assert all("constraints" in line or "pyproject" not in line for line in lines[:deps])
    final = next(line for line in lines if "--no-deps" in line)
    assert f"'.[{extra}]'" in final and f"-c constraints/{extra}.txt" in final


def pins(extra: str) -> dict[str, str]:
    text = (REPO / "constraints" / f"{extra}.txt").read_text()
    return {
        re.sub(r"[-_.]+", "-", n).lower(): v
        for n, v in (line.split("==") for line in text.splitlines() if line and not line.startswith("#"))
    }


def test_constraints_pin_every_dependency_pyproject_names() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {"collector": [*project["dependencies"], *extras["collector"]], "all": list(project["dependencies"])}
    for name in ("collector", "ingest", "embedded", "mqtt", "grafana", "report"):
        wanted["all"] += extras[name]
    for extra, requirements in wanted.items():
        pinned = pins(extra)
        for raw in requirements:
            req = Requirement(raw)
            name = re.sub(r"[-_.]+", "-", req.name).lower()
            assert name in pinned, f"constraints/{extra}.txt lacks {name}: run scripts/lock-constraints"
            assert req.specifier.contains(pinned[name], prereleases=True), f"{name}=={pinned[name]} outside {req.specifier}"
    assert not set(pins("collector")) & HEAVY
