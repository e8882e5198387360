"""Vectorized seeds (models/seeded.py, bench/training/group.py): one seed is the ordinary run bit for bit;
with several seeds each seed's loss, gradients and trajectory are those of its ordinary run; a seed
that stops (diverged, solved) stops learning while the others go on unchanged; one row per seed."""

import json
import math

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.config import TrainConfig
from bench.training import make_optimizer
from bench.training.episodic import train
from bench.training.group import SeedFreezer, padded_inputs, train_group
from models import build_model
from models.seeded import NotVectorizable, SeedStacked, flush_weight_gradients, supports_vectorized_seeds, vectorize
from tasks import build_task

SIZES = {"input_size": 6, "output_size": 4, "hidden_size": 10, "memory_slots": 5, "memory_width": 4}
# every model that declares support, with its randomness off (so an ordinary run can be compared) and
# the options whose parameters go through other paths: learned initial states, layer norm, no-bias maps
DETERMINISTIC = {
    "armin": {"addressing_noise": False},
    "armin-code": {"read": "soft", "cell_tanh": True, "write_input": "xh", "forget_bias": 1.0,
                   "learned_initial_state": True, "temperature_on_logits": True, "layer_norm": True},
    "ntm": {},
    "tardis": {"addressing_noise": False, "gate_noise": False, "learned_initial_state": True},
    "awta": {"addressing_noise": False},
    "dnc": {"learned_initial_state": True},
    "dnc-code": {"learned_initial_state": True, "reference_init": True, "forget_bias": 1.0},  # one LSTM bias trains
}
TASK = {"bits": 4, "min_length": 1, "max_length": 4}  # copy, lengths 1-4: the seeds' lengths differ


def build(preset: str, seed: int, dtype=torch.float64, **options):
    torch.manual_seed(seed)
    return build_model(preset.split("-")[0], **SIZES, **{**DETERMINISTIC[preset], **options}).to(dtype)


def config(**options) -> TrainConfig:
    base = {"iterations": 6, "val_every": 3, "val_batches": 2, "val_batch_size": 2, "lr": 1e-2, "dtype": "float64"}
    return TrainConfig.from_dict({**base, **options})


def copy_task(**options):
    return build_task("copy", **{**TASK, **options})


ONE_LENGTH = {"min_length": 3, "max_length": 3}  # every seed's stream in the order of its ordinary run


@pytest.mark.parametrize("preset, options",
                         [("armin", {"addressing_noise": True}), ("ntm", {}), ("tardis", {}), ("dnc", {})])
def test_one_seed_is_the_ordinary_run_bit_for_bit(preset, options):
    """Same losses, validation curve and final parameters, to the bit; with the model's own noise on
    (ARMIN's gumbel noise: one seed draws it as the ordinary run does)."""
    cfg, task = config(dtype="float32"), copy_task()
    runs = []
    for vectorized in (False, True):
        model = build(preset, 3, torch.float32, **options)
        losses = []
        if vectorized:
            (outcome,) = train_group([model], task, cfg, [3], on_iteration=lambda s, i, loss: losses.append(loss))
        else:
            outcome = train(model, task, cfg, 3, on_iteration=lambda i, loss: losses.append(loss))
        runs.append((losses, [(p.val_loss, p.train_loss) for p in outcome.curve], model.state_dict(), outcome))
    (losses, curve, params, outcome), (v_losses, v_curve, v_params, v_outcome) = runs
    assert v_losses == losses and len(losses) == cfg.iterations
    assert v_curve == curve and len(curve) == 2
    assert all(torch.equal(params[k], v_params[k]) for k in params)
    assert (v_outcome.status, v_outcome.iterations_run) == (outcome.status, outcome.iterations_run)


@pytest.mark.parametrize("preset", list(DETERMINISTIC))
def test_each_seed_gets_the_loss_and_gradients_of_its_ordinary_run(preset):
    """Three seeds, batches of different lengths (padded at the end): seed s's loss and the gradient
    of its slice are those of model s alone on its own batch."""
    task, seeds, B = copy_task(), [0, 1, 2], 2
    models = [build(preset, s) for s in seeds]
    vmodel = vectorize(models)
    batches = {s: task.make(B, length, torch.Generator().manual_seed(s)).to(dtype=torch.float64)
               for s, length in zip(seeds, (1, 4, 2))}
    logits, _ = vmodel(padded_inputs(batches, len(seeds), B))
    losses = {s: task.loss(logits[: b.inputs.shape[0], s * B : (s + 1) * B], b) for s, b in batches.items()}
    sum(losses.values()).backward()
    flush_weight_gradients(vmodel)
    stacked = dict(vmodel.named_parameters())
    for s, model in zip(seeds, models):
        loss = task.loss(model(batches[s].inputs)[0], batches[s])
        loss.backward()
        torch.testing.assert_close(losses[s], loss, rtol=1e-12, atol=1e-12)
        for name, param in model.named_parameters():
            if not param.requires_grad:  # a frozen parameter (dnc-code's bias_hh) gets no gradient in either
                assert param.grad is None and stacked[name].grad is None, name
                continue
            torch.testing.assert_close(stacked[name].grad[s], param.grad, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("preset", ["armin-code", "ntm", "dnc-code"])
def test_each_seed_trains_as_its_ordinary_run(preset):
    """Several iterations with optimiser, clipping (by value and by each seed's own norm) and
    validation: per seed the losses, the curve and the final weights of its ordinary run (float64,
    deterministic model; lengths 1-4, each seed its own batches, padded to the longest)."""
    cfg, task, seeds = config(clip_value=0.05, clip_norm=0.02), copy_task(), [4, 5, 6]
    models = [build(preset, s) for s in seeds]
    losses = {s: [] for s in range(3)}
    outcomes = train_group(models, task, cfg, seeds, on_iteration=lambda s, i, loss: losses[s].append(loss))
    for s, seed in enumerate(seeds):
        model = build(preset, seed)
        own = []
        outcome = train(model, task, cfg, seed, on_iteration=lambda i, loss: own.append(loss))
        assert losses[s] == pytest.approx(own, rel=1e-9)
        assert [p.val_loss for p in outcomes[s].curve] == pytest.approx([p.val_loss for p in outcome.curve], rel=1e-9)
        for (name, mine), theirs in zip(models[s].named_parameters(), model.parameters()):
            torch.testing.assert_close(mine, theirs, rtol=1e-8, atol=1e-10, msg=name)


def test_a_diverged_seed_stops_and_the_others_train_on_unchanged():
    cfg, task = config(), copy_task()
    group = [build("armin", s) for s in (0, 1, 2)]
    with torch.no_grad():
        group[1].readout.bias.fill_(math.nan)  # seed 1's loss is NaN at the first iteration
    before = {k: v.clone() for k, v in group[1].state_dict().items()}
    outcomes = train_group(group, task, cfg, [0, 1, 2])
    assert (outcomes[1].status, outcomes[1].diverged_at, outcomes[1].iterations_run) == ("diverged", 1, 0)
    assert all(torch.equal(before[k], v) or torch.isnan(v).all() for k, v in group[1].state_dict().items())
    assert [o.iterations_run for o in (outcomes[0], outcomes[2])] == [cfg.iterations] * 2
    pair = [build("armin", s) for s in (0, 2)]  # the same two seeds without the diverging one
    pair_outcomes = train_group(pair, task, cfg, [0, 2])
    for mine, theirs, o, p in zip((group[0], group[2]), pair, (outcomes[0], outcomes[2]), pair_outcomes):
        assert [x.val_loss for x in o.curve] == pytest.approx([x.val_loss for x in p.curve], rel=1e-9)
        for a, b in zip(mine.parameters(), theirs.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_the_running_seeds_go_on_alone_when_half_have_stopped(monkeypatch):
    """Seeds 1 and 3 of four diverge at once: the computation is rebuilt with seeds 0 and 2, their
    weights and optimiser state (RMSprop with momentum) carried over: they train as a pair would."""
    import bench.training.group

    rebuilt = []
    original = bench.training.group.SeedStack.compacted
    monkeypatch.setattr(bench.training.group.SeedStack, "compacted",
                        lambda self, running: rebuilt.append(list(running)) or original(self, running))
    cfg, task = config(), copy_task()
    group = [build("armin", s) for s in range(4)]
    with torch.no_grad():
        for s in (1, 3):
            group[s].readout.bias.fill_(math.nan)
    outcomes = train_group(group, task, cfg, [0, 1, 2, 3])
    assert rebuilt == [[0, 2]]
    assert [o.status for o in outcomes] == ["unsolved", "diverged", "unsolved", "diverged"]
    pair = [build("armin", s) for s in (0, 2)]
    pair_outcomes = train_group(pair, task, cfg, [0, 2])
    for mine, theirs, o, p in zip((group[0], group[2]), pair, (outcomes[0], outcomes[2]), pair_outcomes):
        assert [x.val_loss for x in o.curve] == pytest.approx([x.val_loss for x in p.curve], rel=1e-9)
        for a, b in zip(mine.parameters(), theirs.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_a_solved_seed_stops_while_the_others_go_on():
    """Threshold between the seeds' first validation losses: the better seed is solved at the first
    validation and stops there; the other trains to the end, as it would alone."""
    task, seeds = copy_task(**ONE_LENGTH), [0, 1]
    probe = train_group([build("armin", s) for s in seeds], task, config(iterations=3, val_every=3), seeds)
    first = [o.curve[0].val_loss for o in probe]
    assert first[0] != first[1]
    cfg = config(iterations=6, val_every=3, solved_window=1, solved_threshold=sum(first) / 2)
    outcomes = train_group([build("armin", s) for s in seeds], task, cfg, seeds)
    best, other = (0, 1) if first[0] < first[1] else (1, 0)
    solved = outcomes[best]
    assert (solved.status, solved.iterations_to_solve, solved.iterations_run) == ("solved", 3, 3)
    assert outcomes[other].iterations_run == 6
    (alone,) = train_group([build("armin", seeds[other])], task, cfg, [seeds[other]])
    assert [p.val_loss for p in outcomes[other].curve] == pytest.approx([p.val_loss for p in alone.curve], rel=1e-9)


def test_freezer_zeroes_the_gradient_and_keeps_parameters_and_optimiser_state():
    param = torch.nn.Parameter(torch.ones(3, 2))
    optimizer = make_optimizer(torch.nn.ParameterList([param]), TrainConfig())
    freezer = SeedFreezer([param], optimizer, seeds=3)
    for step in range(3):
        if step == 1:
            freezer.freeze(1)
            state = {k: v.clone() for k, v in optimizer.state[param].items() if v.shape == param.shape}
            frozen_value = param.detach().clone()
        param.grad = torch.full_like(param, float("nan") if step == 2 else 1.0).index_fill(0, torch.tensor([0, 2]), 1.0)
        freezer.zero_gradients()
        if step >= 1:
            assert param.grad[1].eq(0).all()
        optimizer.step()
        freezer.restore()
    assert torch.equal(param[1], frozen_value[1]) and not torch.equal(param[0], frozen_value[0])
    assert all(torch.equal(optimizer.state[param][k][1], v[1]) for k, v in state.items())
    assert torch.isfinite(param).all()


def test_per_seed_parameter_operations():
    data = torch.arange(6.0).view(2, 3)  # seed 0: [0, 1, 2], seed 1: [3, 4, 5]
    value = SeedStacked(data)
    rows = value.expand(4, -1)  # 2 rows per seed
    assert torch.equal(rows, torch.tensor([[0.0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5]]))
    assert torch.equal(torch.tanh(value).to(torch.float64).expand(2, 3), torch.tanh(data).double())
    batch = torch.ones(4, 5, 3)
    assert torch.equal((batch + value)[2, 0], torch.tensor([4.0, 5, 6]))
    assert torch.equal(batch @ value, torch.tensor([3.0, 3, 12, 12]).view(4, 1).expand(4, 5))
    with pytest.raises(NotVectorizable):
        torch.cumsum(value, dim=0)


def test_models_without_support_are_refused():
    torch.manual_seed(0)
    with pytest.raises(NotVectorizable):
        vectorize([build_model("lstm", input_size=3, output_size=2, hidden_size=4) for _ in range(2)])


TINY = ["-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8", "--val-every", "5", "-q",
        "-s", "train.val_batches=2", "-s", "train.inference_batches=2"]


def test_cli_writes_one_row_and_one_curve_per_seed(tmp_path):
    assert main(["run", "-m", "armin,lstm", "-t", "copy", "-n", "10", "--seeds", "3", "--vectorize-seeds",
                 "--out", str(tmp_path), *TINY]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert sorted(zip(runs.model, runs.seed)) == [("armin", s) for s in range(3)] + [("lstm", s) for s in range(3)]
    vectorized = runs.train_options.map(lambda text: json.loads(text).get("vectorized"))
    assert vectorized[runs.model == "armin"].eq(3).all() and vectorized[runs.model == "lstm"].isna().all()
    assert (runs.iterations_run == 10).all() and (runs.infer_steps_per_s > 0).all() and runs.status.ne("error").all()
    armin = runs[runs.model == "armin"]
    assert armin.final_val_loss.nunique() == 3  # three seeds, three runs
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves.run_id) == set(runs.run_id) and (curves.groupby("run_id").size() == 2).all()


def test_with_jobs_a_worker_process_trains_a_group_and_its_rows_are_those_of_the_main_process(tmp_path):
    import os

    def rows(*flags):
        out = tmp_path / f"jobs{len(flags)}"
        assert main(["run", "-m", "armin,lstm", "-t", "copy", "-n", "6", "--seeds", "2", "--vectorize-seeds",
                     "--out", str(out), *TINY, *flags]) == 0
        runs = pd.read_csv(out / "runs.csv").sort_values(["model", "seed"])
        pids = [int(open(log).readline().split("(pid ")[1].split()[0]) for log in runs.log]
        same = ["model", "seed", "status", "final_val_loss", "best_val_loss", "spec_hash"]
        return runs[same].reset_index(drop=True), runs.train_options.map(json.loads).tolist(), pids

    inline, options, pids = rows()
    workers, options_jobs, pids_jobs = rows("--jobs", "2")
    pd.testing.assert_frame_equal(workers, inline)
    assert [o.get("vectorized") for o in options_jobs] == [2, 2, None, None] == [o.get("vectorized") for o in options]
    assert set(pids) == {os.getpid()} and os.getpid() not in pids_jobs  # with --jobs 2, in workers
    assert pids_jobs[0] == pids_jobs[1]  # ARMIN's two seeds: one computation, one worker


def test_a_suite_turns_vectorized_seeds_on_and_the_flag_overrides_it(tmp_path):
    import yaml

    from bench.config import DEFAULT_CONFIG_PATH

    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["suites"] = {"mine": {"models": ["armin"], "tasks": ["copy"], "seeds": 2, "vectorize_seeds": True}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))

    def vectorized(*flags):
        out = tmp_path / f"out{len(flags)}"
        assert main(["--config", str(path), "run", "--suite", "mine", "-n", "4", "--out", str(out), *TINY, *flags]) == 0
        runs = pd.read_csv(out / "runs.csv")
        return sorted(runs.train_options.map(lambda text: json.loads(text).get("vectorized", 1)))

    assert vectorized() == [2, 2]  # the suite's key: one group of two seeds
    assert vectorized("--no-vectorize-seeds") == [1, 1]  # the flag wins: seed by seed
    from bench.config import load_config, suite

    assert all(suite(load_config(), name)["vectorize_seeds"] for name in ("table1", "table1-code"))


def test_a_group_that_cannot_be_vectorized_runs_its_seeds_one_by_one(tmp_path, monkeypatch):
    import bench.training.group

    def refuse(models):
        raise NotVectorizable("no per-seed version of SomeLayer")

    monkeypatch.setattr(bench.training.group, "vectorize", refuse)
    assert main(["run", "-m", "armin", "-t", "copy", "-n", "5", "--seeds", "2", "--vectorize-seeds",
                 "--out", str(tmp_path), *TINY]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert sorted(runs.seed) == [0, 1] and runs.status.ne("error").all()
    assert runs.train_options.map(lambda text: "vectorized" not in json.loads(text)).all()


def test_sam_with_its_own_forward_runs_its_seeds_one_by_one():
    """SAM's sparse memory (journaled in-place writes) has a forward of its own that the per-seed
    conversion does not know: SAM must not claim vectorized seeds, so its groups run seed by seed."""
    from models.sam import SAM

    assert not supports_vectorized_seeds(SAM)
    with pytest.raises(NotVectorizable):
        vectorize([build_model("sam", **SIZES) for _ in range(2)])


def test_seeds_record_the_authors_measure_and_stop_on_both_as_their_ordinary_runs():
    """threshold 10: the paper's rule holds at iteration 4 (2 validations of 2), the 5-iteration
    training-loss window closes at 5; with stop_after_both_measures each seed trains to 5."""
    cfg = config(iterations=12, solved_threshold=10.0, val_every=2, solved_window=2, train_loss_window=5,
                 stop_after_both_measures=True)
    task, seeds = copy_task(**ONE_LENGTH), [0, 1]
    outcomes = train_group([build("dnc", s) for s in seeds], task, cfg, seeds)
    for s, seed in enumerate(seeds):
        own = train(build("dnc", seed), task, cfg, seed)
        got = (outcomes[s].iterations_to_solve, outcomes[s].train_loss_solved_at, outcomes[s].iterations_run)
        assert got == (own.iterations_to_solve, own.train_loss_solved_at, own.iterations_run) == (4, 5, 5)
