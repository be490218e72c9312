#!/usr/bin/env bash
# A sweep spread over a Slurm array: each task runs one deterministic shard of the grid
# (qlab reads SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_MIN / SLURM_ARRAY_TASK_COUNT) into its
# own log; a dependent job merges them.
#
#   sbatch --array=0-7 experiments/slurm_sweep.sh experiments/paper/gptq_table3_opt_wikitext2.toml
#   # after all tasks: build/core/qlab merge results/runs/<name>.h5 results/runs/<name>.shard*of8.h5
#
#SBATCH --job-name=qlab-sweep
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
#SBATCH --output=results/runs/slurm-%A_%a.out
set -euo pipefail
experiment=${1:?usage: sbatch --array=0-N slurm_sweep.sh EXPERIMENT.toml}
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-2}
# --resume continues this shard's log if the task was requeued after a preemption.
args=(run "$experiment" --threads "$OMP_NUM_THREADS")
name=$(basename "$experiment" .toml)
log="results/runs/${name}.shard$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0}))of${SLURM_ARRAY_TASK_COUNT}.h5"
[ -f "$log" ] && args+=(--resume)
exec build/core/qlab "${args[@]}"
