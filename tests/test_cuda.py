"""On a CUDA device (skipped without one): every preset computes on the GPU what its golden outputs
(tests/data/golden.json, computed on the CPU) say, to the rounding of float64 GPU kernels (training
passes that draw random numbers, which differ between devices, are compared in eval mode only); and
`bench profile` runs there with its operator counts. benchmarks/gpu_check.sh runs this file."""

import json

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.config import load_config
from tests import golden

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CONFIG = load_config()
RECORDS = json.loads(golden.GOLDEN_FILE.read_text())
GPU_RTOL, GPU_ATOL = 1e-7, 1e-9


@pytest.mark.parametrize("name", sorted(CONFIG["models"]))
def test_preset_on_the_gpu_matches_its_golden_outputs(name):
    expected = RECORDS[name]
    actual = json.loads(json.dumps(golden.compute(CONFIG, name, device="cuda")))
    assert actual["train_random"] == expected["train_random"]
    parts = ["eval"] if expected["train_random"] else ["eval", "train"]
    problems = [p for part in parts
                for p in golden.mismatches(expected[part], actual[part], f".{part}", GPU_RTOL, GPU_ATOL)]
    assert not problems, f"{name} on the GPU ({len(problems)}): " + "; ".join(problems[:8])


def test_profile_on_the_gpu_counts_operators_as_on_the_cpu(tmp_path):
    tiny = ["-m", "lstm,armin,ntm", "--hidden", "8", "--tbptt", "3", "--batch-size", "2", "--vocab", "5",
            "--repeats", "1", "--warmup", "1", "-q"]
    for device in ("cpu", "cuda"):
        assert main(["profile", *tiny, "--device", device, "--out", str(tmp_path / device)]) == 0
    counts = {d: pd.read_csv(tmp_path / d / "profile.csv").set_index(["model", "mode"]) for d in ("cpu", "cuda")}
    assert (counts["cuda"].device.str.startswith("cuda")).all()
    assert (counts["cuda"].ops_forward > 0).all() and (counts["cuda"].loc[(slice(None), "train"), "ops_backward"] > 0).all()
    # the same code dispatches the same operators on either device, save for device-specific kernels
    # (e.g. the fused LSTM): report, not gate
    print(pd.concat({d: c[["ops_forward", "ops_backward"]] for d, c in counts.items()}, axis=1))
