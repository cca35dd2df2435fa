"""The pod-resources client against a gRPC server implementing the kubelet's exact service
(`v1.PodResourcesLister`) over a Unix socket: pods holding GPUs by device plugin or DRA
become job starts, a pod that goes away an end; other resources and unknown GPUs are not jobs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from collectors.jobs.kubelet import KubeletJobs, list_pods
from gpufleet.contract.jobs import JobAssignment
from tests.support.kubelet_double import Claim, Container, Devices, PodResources, PodResourcesDouble

UUIDS = {f"GPU-{i:08d}-aaaa-bbbb-cccc-000000000000": i for i in range(8)}
U = list(UUIDS)


def _trainer() -> PodResources:
    return PodResources("trainer-0", "ml", [
        Container("main", [Devices("nvidia.com/gpu", [U[2], U[3]])], cpu_ids=[4, 5]),
        Container("sidecar", [Devices("example.com/nic", ["nic-1"])]),
    ])  # fmt: skip


def test_list_returns_each_containers_gpu_uuids(kubelet: PodResourcesDouble) -> None:
    kubelet.pods = [_trainer(), PodResources("web", "default", [Container("nginx")])]
    pods = list_pods(str(kubelet.socket_path))
    assert [(p.namespace, p.name) for p in pods] == [("ml", "trainer-0"), ("default", "web")]
    main, sidecar = pods[0].containers
    assert (main.name, main.uuids) == ("main", (U[2], U[3]))
    assert sidecar.uuids == ()  # a NIC is not a GPU
    assert pods[1].containers[0].uuids == ()


def test_pods_holding_gpus_start_and_end_jobs(kubelet: PodResourcesDouble) -> None:
    kubelet.pods = [_trainer(), PodResources("web", "default", [Container("nginx")])]
    jobs = KubeletJobs("colossus", "node-00007", UUIDS, lambda: list_pods(str(kubelet.socket_path)))
    (start,) = jobs.poll(1_000)
    assert (start.phase, start.job_id, start.account, start.name, start.source) == (
        "start",
        "ml/trainer-0",
        "ml",
        "main",
        "kubernetes",
    )
    assert [(g.gpu_index, g.uuid) for g in start.gpus] == [(2, U[2]), (3, U[3])]
    assert jobs.poll(2_000) == []  # nothing changed: nothing published

    kubelet.pods.append(
        PodResources("infer", "serve", [Container("llm", claims=[Claim("gpu-claim", "gpu.nvidia.com", "gpu-6")])])
    )
    (dra,) = jobs.poll(3_000)
    assert (dra.job_id, [g.gpu_index for g in dra.gpus]) == ("serve/infer", [6])

    kubelet.pods = [p for p in kubelet.pods if p.name != "trainer-0"]
    (end,) = jobs.poll(4_000)
    assert (end.phase, end.job_id, end.ts_ms, end.start_ms) == ("end", "ml/trainer-0", 4_000, 1_000)
    assert JobAssignment.model_validate_json(end.model_dump_json()) == end  # a valid wire message


def test_a_gpu_the_inventory_does_not_know_is_counted_not_attributed(kubelet: PodResourcesDouble) -> None:
    kubelet.pods = [PodResources("p", "ns", [Container("c", [Devices("nvidia.com/gpu", ["GPU-unknown", U[1]])])])]
    jobs = KubeletJobs("colossus", "n", UUIDS, lambda: list_pods(str(kubelet.socket_path)))
    (start,) = jobs.poll(1)
    assert [g.gpu_index for g in start.gpus] == [1]
    assert jobs.unmapped == 1


def test_polling_runs_on_its_own_thread_and_survives_a_kubelet_restart(kubelet: PodResourcesDouble, tmp_path: Path) -> None:
    kubelet.pods = [_trainer()]
    published: list[JobAssignment] = []
    jobs = KubeletJobs("colossus", "n", UUIDS, lambda: list_pods(str(kubelet.socket_path), timeout_s=1.0))
    stop = threading.Event()
    worker = threading.Thread(target=jobs.run, args=(published.extend, 0.05, stop, time.time))
    worker.start()
    try:
        _wait(lambda: len(published) == 1)
        kubelet.stop()  # the kubelet restarts: polls fail and are retried
        time.sleep(0.3)
        kubelet.pods = []
        kubelet.start()
        _wait(lambda: len(published) == 2)
    finally:
        stop.set()
        worker.join(10)
    assert [m.phase for m in published] == ["start", "end"]


def _wait(condition: object, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
