"""Wire schema v1 for job assignments: which job holds which GPUs of a node, from when to when.

One message per job, node and phase. A job start says which GPUs it got; a job end closes
the interval. Storage merges the two into one interval per (job, node, GPU) and attributes
samples to jobs by joining on that interval at query time, so sample rows never carry job
labels (docs/jobs.md). Every job source (Slurm Prolog/Epilog and reconciler, the kubelet
pod-resources API, dcgm-exporter mapping files, the synthetic scheduler) publishes this.

`cluster` and `node` are gpufleet's topology labels (the ones on the node's samples), not
necessarily Slurm's names. A GPU is identified by its index on the node; the UUID is carried
when the source knows it (Kubernetes reports only UUIDs, which the node collector maps to
indices from its own inventory).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

JOB_ASSIGNMENT_SCHEMA: Final = "gpufleet.job_assignment/1"
JOB_SOURCES: Final = ("slurm", "kubernetes", "mapping", "synthetic")

_Label = Annotated[str, Field(min_length=1, max_length=128)]
_Text = Annotated[str, Field(max_length=256)]
_TimestampMs = Annotated[int, Field(ge=0, le=2**63 - 1, description="Unix epoch milliseconds, UTC")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True)


class JobGpu(_Strict):
    gpu_index: Annotated[int, Field(ge=0, le=255)]
    uuid: str | None = Field(None, max_length=128, description="GPU-… or MIG-… when the source knows it")


class JobAssignment(_Strict):
    """A job started on (phase=start) or left (phase=end) some GPUs of one node."""

    schema_: Literal["gpufleet.job_assignment/1"] = Field(JOB_ASSIGNMENT_SCHEMA, alias="schema")
    ts_ms: _TimestampMs = Field(description="when the job started (start) or ended (end) on this node")
    phase: Literal["start", "end"]
    source: Literal["slurm", "kubernetes", "mapping", "synthetic"]
    cluster: _Label
    node: _Label
    job_id: _Label = Field(description="Slurm job id; for Kubernetes namespace/pod")
    user: _Text = ""
    account: _Text = Field("", description="Slurm account, or the Kubernetes namespace")
    partition: _Text = ""
    name: _Text = Field("", description="job name, or the pod's container")
    gpus: list[JobGpu] = Field(default_factory=list, max_length=64)
    state: _Text = Field("", description="at end: COMPLETED, FAILED, NODE_FAIL, … (Slurm) or why it ended")
    exit_code: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    start_ms: _TimestampMs | None = Field(None, description="at end: the start time, when the source knows it")

    @model_validator(mode="after")
    def _consistent(self) -> JobAssignment:
        if self.phase == "start" and not self.gpus:
            raise ValueError(f"job {self.job_id!r} starts on node {self.node!r} with no GPUs")
        indices = [g.gpu_index for g in self.gpus]
        if len(set(indices)) != len(indices):
            raise ValueError(f"duplicate gpu_index in job {self.job_id!r} on node {self.node!r}: {indices!r}")
        if self.start_ms is not None and self.start_ms > self.ts_ms:
            raise ValueError(f"job {self.job_id!r} ends at {self.ts_ms} before its start_ms {self.start_ms}")
        return self
