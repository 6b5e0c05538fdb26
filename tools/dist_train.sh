#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NPROC [train.py args]
# Several nodes: NNODES=2 NODE_RANK=0/1 MASTER_ADDR=<node 0> on each node.
# Without a GPU the processes use the gloo backend.
CONFIG=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

source "$(dirname "$0")/python_env.sh"
mmkd_require_python

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$NPROC \
    --master_port=$PORT \
    $(dirname "$0")/train.py \
    $CONFIG \
    --launcher pytorch ${@:3}
