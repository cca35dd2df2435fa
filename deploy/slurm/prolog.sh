#!/bin/sh
# gpufleet's Slurm Prolog (slurm.conf: Prolog=/etc/slurm/gpufleet-prolog.sh, PrologFlags=Alloc).
# slurmd runs it with no PATH; a Prolog that fails drains the node, so this script always
# exits 0, and `timeout` bounds it even if Python itself hangs. The message goes to the
# node's spool; `gpufleet jobs forward` publishes it. See docs/jobs.md.
GPUFLEET=/opt/gpufleet/bin/gpufleet
SPOOL=/var/spool/gpufleet/jobs
LOG=/var/log/gpufleet-slurm-hooks.log
/usr/bin/timeout -k 1 10 "$GPUFLEET" jobs slurm-prolog --spool "$SPOOL" >>"$LOG" 2>&1
exit 0
