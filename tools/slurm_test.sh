#!/usr/bin/env bash
# Usage: [GPUS=8 GPUS_PER_NODE=8] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=${@:5}
GRES=""
if [ "${GPUS_PER_NODE}" -gt 0 ]; then
    GRES="--gres=gpu:${GPUS_PER_NODE}"
    TASKS_PER_NODE=${TASKS_PER_NODE:-${GPUS_PER_NODE}}
else
    TASKS_PER_NODE=${TASKS_PER_NODE:-${GPUS}}
fi

# the interpreter is resolved here, on the submitting node, as an absolute
# path: the tasks run it on every node of the job (a shared file system)
source "$(dirname "$0")/python_env.sh"
mmkd_require_python

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    ${GRES} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${TASKS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u tools/test.py ${CONFIG} ${CHECKPOINT} --launcher="slurm" ${PY_ARGS}
