#!/usr/bin/env bash
# One prepared device check, under 8 minutes on one GPU: the environment, the time to
# simulate the cpu-scale static data, the simulator on the GPU (agreement with the CPU on
# the smoke data, then one large-scale animal), one full-model fit in bfloat16 and float32 (throughput and convergence),
# the throughput of a sweep one after the other and on a local Dask cluster, and the
# comparison with neuralpredictors for 60 s a side.
#
#   bash benchmarks/device_check.sh                  # on the GPU (profile gpu)
#   SCALE=smoke bash benchmarks/device_check.sh      # the same steps at smoke scale, on a CPU
#
# PYTHON: the interpreter (default python); PEER_WHEELS: a folder of wheels to make the
# peer's environment from where no package index answers (neuralpredictors 0.3.0 and
# what the machine lacks of pandas, h5py, scipy, tqdm); PEER_ENV: keep the peer's
# environment in this folder, to reuse.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
SCALE=${SCALE:-gpu}
case "$SCALE" in
  gpu) PROFILE=gpu; DATA=insilico-static; CHANNELS=64; SECONDS_A_SIDE=60; FITS=4; COMPARE_LIMIT=240
       SIM_LARGE=(--device cuda --animals 1 insilico-static-large) ;;
  smoke) PROFILE=smoke; DATA=insilico-static-smoke; CHANNELS=8; SECONDS_A_SIDE=10; FITS=2; COMPARE_LIMIT=180
       SIM_LARGE=(--animals 1 insilico-static-smoke) ;;
  *) echo "error: SCALE must be gpu or smoke, got '$SCALE'" >&2; exit 2 ;;
esac
PEER=()  # on the GPU the peer uses the machine's own (CUDA) torch
[ "$SCALE" = gpu ] && PEER+=(--peer-system-packages)
[ -n "${PEER_WHEELS:-}" ] && PEER+=(--peer-wheels "$PEER_WHEELS")
[ -n "${PEER_ENV:-}" ] && PEER+=(--peer-env "$PEER_ENV")
failed=0
step() {  # step TITLE SECONDS COMMAND...: run one step under a time limit, keep going after
  local title=$1 limit=$2; shift 2
  echo; echo "== $title ($(date +%T), at most ${limit} s)"
  local t0=$SECONDS
  timeout "$limit" "$@" || { echo "!! $title: exit $? after $((SECONDS - t0)) s"; failed=1; }
  echo "-- $title: $((SECONDS - t0)) s"
}
step environment 30 bash -c "nvidia-smi -L 2>/dev/null || echo 'no nvidia-smi'; nproc; $PY -c \
'import sys, torch; print(sys.version.split()[0], \"torch\", torch.__version__, \"cuda\", \
torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"\")'"
step "simulating $DATA" 120 "$PY" -m v1lib data "$DATA"
step "the simulator, CPU and GPU side by side" 60 "$PY" benchmarks/simulate_static.py \
  insilico-static-smoke
step "the simulator, one large-scale animal" 60 "$PY" benchmarks/simulate_static.py "${SIM_LARGE[@]}"
step "one full-model fit, bfloat16 and float32" 180 "$PY" benchmarks/train_static.py \
  --profile "$PROFILE" --data "$DATA" --variant gaussian_full --float32-too
step "a sweep, one fit after another" 60 "$PY" benchmarks/sweep_throughput.py \
  --profile "$PROFILE" --data "$DATA" --fits "$FITS" --epochs 3 --executor processes
step "a sweep on a local Dask cluster" 75 "$PY" benchmarks/sweep_throughput.py \
  --profile "$PROFILE" --data "$DATA" --fits "$FITS" --epochs 3 --executor "dask:$FITS"
step "neuralpredictors side by side" "$COMPARE_LIMIT" "$PY" \
  benchmarks/compare_neuralpredictors.py --data "$DATA" --channels "$CHANNELS" \
  --seconds "$SECONDS_A_SIDE" "${PEER[@]}"
exit $failed
