"""Job sources: which job holds which GPUs of a node (docs/jobs.md).

Each publishes `gpufleet.contract.jobs.JobAssignment` messages: Slurm's Prolog/Epilog hooks
and the controller-side reconciler (`slurm`), the kubelet pod-resources API (`kubelet`),
dcgm-exporter's job-mapping files (`mapping`). Storage turns them into intervals.
"""
