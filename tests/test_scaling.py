"""The scaling benchmark (issue 9, SAM paper Figure 1): `bench profile --slots`, the skip rule, the
`scaling` profile's exact memory figures at tiny sizes and `bench plot scaling`."""

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.config import SCOPES, ConfigError, load_config
from bench.profile_engine import GIB, StepRunner, build_request, extrapolate, run_profile, skip_reason

CONFIG = load_config()
NO_OVERRIDES = {scope: {} for scope in SCOPES}
TINY = {"tbptt": 4, "batch_size": 1, "vocab": 5, "repeats": 1, "warmup": 1}


def scaling_rows(models: str, slots: str, **flags) -> pd.DataFrame:
    request = build_request(CONFIG, "scaling", {**TINY, "models": models, "slots": slots, **flags}, NO_OVERRIDES)
    return pd.DataFrame(run_profile(request, CONFIG, torch.device("cpu"), lambda rows: None))


def test_scaling_profile_exact_memory_dense_grows_with_n_sparse_does_not():
    """CI's scaling check at N 64 and 4,096: bytes saved for backward (deterministic) grow with N for
    dense SAM and NTM, not for sparse SAM; the inference figure (parameters + state) holds the memory."""
    df = scaling_rows("fig1-sam,fig1-sam-dense,fig1-ntm,lstm", "64,4096")
    train = {(r.model, r.memory_slots): r.exact_memory_bytes for r in df[df["mode"] == "train"].itertuples()}
    assert train["fig1-sam", 64] == train["fig1-sam", 4096]
    one_copy_per_step = TINY["tbptt"] * (4096 - 64) * 32 * 4  # T x (growth of N) x W x float32
    assert train["fig1-sam-dense", 4096] - train["fig1-sam-dense", 64] >= one_copy_per_step
    assert train["fig1-ntm", 4096] - train["fig1-ntm", 64] >= one_copy_per_step
    assert train["fig1-sam", 4096] < train["fig1-sam-dense", 4096] / 5
    assert set(df.setup) == {"h100-T4-B1-N64", "h100-T4-B1-N4096"}
    assert set(df[df.model == "lstm"].memory_slots) == {0}
    infer = {(r.model, r.setup): r.state_bytes for r in df[df["mode"] == "infer"].itertuples()}
    assert infer["fig1-sam", "h100-T4-B1-N4096"] > 4096 * 32 * 4  # the memory itself, B x N x W floats
    sam = df[(df.model == "fig1-sam") & (df["mode"] == "train")]
    assert (sam.path == "train:sparse-ann").all() and (sam.index_recall >= 0.9).all()


def test_extrapolation_hand_computed():
    assert extrapolate([100], [2.0], 400) == pytest.approx(8.0)  # one point: linear in N
    assert extrapolate([100, 400], [1.0, 2.0], 1600) == pytest.approx(4.0)  # slope 1/2 in log-log
    assert extrapolate([100, 200], [1.0, 16.0], 400) == pytest.approx(64.0)  # slope 4 capped at 2
    assert extrapolate([100, 200], [2.0, 1.0], 400) == pytest.approx(1.0)  # shrinking: slope 0


def test_skip_rule_reasons():
    ran = [{"memory_slots": 100, "step_cpu_time_min_s": 1.0, "peak_memory_bytes": 1e6, "exact_memory_bytes": 1e6},
           {"memory_slots": 400, "step_cpu_time_min_s": 2.0, "peak_memory_bytes": 2e6, "exact_memory_bytes": 4e6}]
    assert skip_reason(ran, 1600, max_time=5.0, max_memory=None) is None  # 4 s
    assert "4.00 CPU s per step > budget 3 s" in skip_reason(ran, 1600, max_time=3.0, max_memory=None)
    assert "GiB > budget" in skip_reason(ran, 1600, max_time=None, max_memory=10e6)  # 16 MB
    assert skip_reason([], 1600, 1e-9, 1.0) is None  # nothing measured yet: run
    skipped = ran + [{"memory_slots": 1600, "skipped": "extrapolated ..."}]
    assert skip_reason(skipped, 6400, None, None) == "skipped at N=1,600, a smaller size"
    lstm = [{"memory_slots": 0, "step_cpu_time_min_s": 9.0}]
    assert skip_reason(lstm, 10**6, 1.0, 1.0) is None  # no memory: nothing grows with N


def test_skip_rule_end_to_end_writes_skipped_rows(tmp_path, capsys):
    """A budget the second size would break: rows that say why, then `bench plot scaling` on them."""
    args = ["profile", "-p", "scaling", "-m", "fig1-ntm,lstm", "--slots", "16,64,256", "--tbptt", "4",
            "--repeats", "1", "--warmup", "1", "--vocab", "5", "--max-memory", str(1e-9), "-q", "--out", str(tmp_path)]
    assert main(args) == 0
    df = pd.read_csv(tmp_path / "profile.csv")
    ntm = {(r.memory_slots, r.mode): r for r in df[df.model == "fig1-ntm"].itertuples()}
    assert all(pd.isna(ntm[16, mode].skipped) and ntm[16, mode].step_time_s > 0 for mode in ("train", "infer"))
    assert ntm[64, "train"].skipped.startswith("extrapolated memory")  # the first size always runs, not this
    assert ntm[256, "train"].skipped == "skipped at N=64, a smaller size"
    assert df[df.model == "lstm"].skipped.isna().all() and len(df[df.model == "lstm"]) == 6
    assert main(["plot", "scaling", "--in", str(tmp_path), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "scaling.png").stat().st_size > 0 and (tmp_path / "fig" / "scaling.svg").exists()


def test_budget_from_the_profile_and_flags():
    request = build_request(CONFIG, "scaling", {"slots": "8"}, NO_OVERRIDES)
    assert request.max_step_time_s == CONFIG["profiles"]["scaling"]["max_step_time_s"]
    assert request.max_memory_bytes == CONFIG["profiles"]["scaling"]["max_memory_gib"] * GIB
    request = build_request(CONFIG, "scaling", {"slots": "8", "max_step_time_s": 0.5}, NO_OVERRIDES)
    assert request.max_step_time_s == 0.5 and [s.memory_slots for s in request.setups][:1] == [8]


def test_slots_without_a_profile_uses_the_scaling_profile(tmp_path):
    """The issue's command line: --slots alone takes the scaling profile's shape (T, batch, width, budgets)."""
    args = ["profile", "--models", "sam,lstm", "--slots", "8,16", "--mode", "infer", "--tbptt", "3", "--repeats", "1",
            "--warmup", "1", "-q", "--out", str(tmp_path)]
    assert main(args) == 0
    df = pd.read_csv(tmp_path / "profile.csv")
    assert set(df.profile) == {"scaling"} and set(df[df.model == "sam"].memory_slots) == {8, 16}
    assert set(df.batch_size) == {1} and set(df[df.model == "sam"].memory_width) == {32}


@pytest.mark.parametrize("args, message", [
    (["--slots", "0"], "--slots"),
    (["--slots", "abc"], "--slots"),
    (["--slots", "64,x"], "--slots"),
    (["--slots", str(10**13)], "memory_slots=10000000000000: must be less than or equal to"),  # the config's size bound
    (["--slots", "64", "--max-step-time", "0"], "--max-step-time"),
    (["--slots", "64", "--max-memory", "-1"], "--max-memory"),
    (["-p", "table4", "--slots", "64"], "grid profiles"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    base = [] if "-p" in args else ["-p", "scaling", "-m", "fig1-sam"]
    assert main(["profile", *base, *args, "-q", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_plot_scaling_without_slots_rows_is_an_error(tmp_path):
    (tmp_path / "profile.csv").write_text("run_id,model,setup,mode,chars_per_s\nr,lstm,h8-T3-B2,train,1.0\n")
    with pytest.raises(ConfigError, match="--slots"):
        from bench.plots.scaling import scaling

        scaling([tmp_path], tmp_path, None)


def test_a_step_that_fails_while_timed_is_a_row_not_a_crash(monkeypatch):
    """Out of memory in a timed step (after a warm-up that fitted): that model's row says so, the
    larger sizes are skipped after it, and the other models of the group are still timed."""
    real = StepRunner.train_step

    def train_step(self):
        if type(self.model).__name__ == "NTM" and self.count >= 1:  # past its first (warm-up) step
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory\n(details)")
        real(self)

    monkeypatch.setattr(StepRunner, "train_step", train_step)
    df = scaling_rows("fig1-ntm,lstm", "16,64", modes="train")
    ntm = df[df.model == "fig1-ntm"].set_index("memory_slots").skipped
    assert ntm[16] == "failed: RuntimeError: DefaultCPUAllocator: can't allocate memory"
    assert ntm[64] == "skipped at N=16, a smaller size"
    lstm = df[df.model == "lstm"]
    assert len(lstm) == 2 and lstm.skipped.isna().all() and (lstm.step_cpu_time_min_s > 0).all()
