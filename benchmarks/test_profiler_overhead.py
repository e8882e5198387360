"""What measuring costs: the profiler's timer must cost < 3% of the smallest step it times.

`bench profile` times each step with ``time_interleaved``: two ``perf_counter`` reads, a
``synchronize`` (a no-op on the CPU) and a list append around the step. Its memory tracking (psutil
RSS samples, the saved-tensor hooks) runs only during the untimed warm-up, so it cannot slow a timed
step; its cost is measured here too, for the record.

    OMP_NUM_THREADS=1 pytest benchmarks/test_profiler_overhead.py --benchmark-only
"""

import statistics
import time

import torch

from bench.run_metrics import PeakMemory
from bench.profile_engine import CharStreamConfig, StepRunner, SyntheticCharStream, time_interleaved
from models import build_model

OVERHEAD_LIMIT = 0.03
TIMED_STEPS = 1_000  # steps per call of the timer under test
STEP_SAMPLES = 200
CPU = torch.device("cpu")
# the fastest step the CI profile times: LSTM inference, d_h 32, T 20, batch 4, vocab 50
SMALLEST = {"hidden": 32, "tbptt": 20, "batch_size": 4, "vocab": 50}


def smallest_step() -> StepRunner:
    task = SyntheticCharStream(CharStreamConfig(vocab=SMALLEST["vocab"], length=SMALLEST["tbptt"]))
    model = build_model("lstm", input_size=SMALLEST["vocab"], output_size=SMALLEST["vocab"], hidden_size=SMALLEST["hidden"])
    return StepRunner(model, task, [task.sample(SMALLEST["batch_size"], torch.Generator().manual_seed(0))], "infer")


def median_seconds(fn, samples: int = STEP_SAMPLES) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_timer_costs_under_3_percent_of_the_smallest_step(benchmark):
    runner = smallest_step()
    for _ in range(10):  # warm-up
        runner.step()
    step_s = median_seconds(runner.step)
    benchmark.pedantic(time_interleaved, args=({"noop": lambda: None}, TIMED_STEPS, CPU), rounds=20, iterations=1)
    timer_s = benchmark.stats.stats.median / TIMED_STEPS
    benchmark.extra_info.update(timer_s_per_step=timer_s, smallest_step_s=step_s, overhead=timer_s / step_s)
    print(f"\ntimer {timer_s * 1e6:.2f} us per step; smallest step {step_s * 1e3:.3f} ms; "
          f"overhead {timer_s / step_s:.3%} (limit {OVERHEAD_LIMIT:.0%})")
    assert timer_s < OVERHEAD_LIMIT * step_s


def test_memory_sample_cost_for_the_record(benchmark):
    """One psutil RSS sample (taken after each warm-up forward and step, never in a timed step)."""
    runner = smallest_step()
    step_s = median_seconds(runner.step)
    memory = PeakMemory(CPU)
    benchmark(memory.sample)
    sample_s = benchmark.stats.stats.median
    benchmark.extra_info.update(sample_s=sample_s, smallest_step_s=step_s, relative=sample_s / step_s)
    print(f"\nRSS sample {sample_s * 1e6:.1f} us = {sample_s / step_s:.1%} of the smallest step (untimed warm-up only)")
