#!/usr/bin/env bash
# The GPU check, on a machine with one CUDA device (about 5-8 minutes on an H100; each stage has a time
# limit, so the whole stays under 10 minutes). From the repository root, in an environment where the
# package and its test extras are installed (pip install -e ".[test]"):
#
#     bash benchmarks/gpu_check.sh            # PYTHON=/path/to/python to choose the interpreter
#
# 1. the CUDA tests (tests/test_cuda.py: every preset's golden outputs on the GPU, a profile there);
# 2. Figure 3 (bench profile -p figure3: d_h 100-800, T 150, batch 128; 3 timed rounds, 1 warm-up)
#    and its plot, in results/figure3-gpu;
# 3. Table 4 (bench profile -p table4) and its report, in results/figure3-gpu/table4.
# Every profile row has its operator counts (ops_*); on a GPU, view operators (view, t, expand, split,
# ...) are counted but launch no kernel. Logs: results/figure3-gpu/*.log.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
OUT=results/figure3-gpu
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
run() {  # run LIMIT_SECONDS LOG COMMAND...: one stage, its output in LOG; a failed stage is reported, the next still runs
  local limit="$1" log="$2"; shift 2
  echo "== $* (limit ${limit}s) -> $log"
  timeout "$limit" "$@" >"$log" 2>&1
  local rc=$?
  tail -n 5 "$log"
  [ "$rc" -eq 0 ] || { echo "!! exit $rc: $*"; status=1; }
}
"$PYTHON" -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda); sys.exit(0 if torch.cuda.is_available() else 1)" \
  || { echo "no CUDA device: nothing to check"; exit 2; }
mkdir -p "$OUT/table4"
run 150 "$OUT/cuda-tests.log" "$PYTHON" -m pytest tests/test_cuda.py -q -rs
run 270 "$OUT/figure3.log" "$PYTHON" -m bench.cli profile -p figure3 --device cuda --repeats 3 --warmup 1 --out "$OUT" -q
run 60 "$OUT/figure3-plot.log" "$PYTHON" -m bench.cli plot figure3 --in "$OUT"
run 120 "$OUT/table4.log" "$PYTHON" -m bench.cli profile -p table4 --device cuda --out "$OUT/table4" -q
run 60 "$OUT/table4-report.log" "$PYTHON" -m bench.cli report table4 --in "$OUT/table4"
echo "results: $OUT (status $status)"
exit "$status"
