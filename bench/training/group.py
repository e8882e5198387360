"""The seed group's training loop: the seeds of one (model, task, options) trained as one computation
(``bench run --vectorize-seeds``), each seed exactly its own run.

At batch 1 a training step is bound by per-operation overhead, so S seeds computed as one batched step
cost far less than S steps. The S models (each built as its ordinary run builds it) become one model
whose parameters carry a leading seed dimension (models/seeded.py); its batch axis carries seeds x
batch, seed-major.

Each seed is its own run: per seed, exactly what its ordinary run (bench/training/episodic.py) does.
- data: seed s draws its next batch from its own stream, its ordinary run's batches in their order.
  The seeds' batches may differ in length: the group's input is padded at the end to the longest, and
  seed s's loss is the task's loss on its own steps and rows. The models are causal, so the padded
  steps change neither the loss nor the gradient of any seed; they cost compute (see
  docs/seed-groups.md for the cost measured on copy). Fixed-length tasks pad nothing.
- noise inside the model (gumbel samples, zoneout): seed s's rows draw from seed s's own generators,
  those its ordinary run draws from, and only for its own steps (models/noise.py).
- the step: forward, seed s's loss on its slice, one backward in which seed s's parameters get the
  gradient of seed s's loss only, clipping per seed (value, then the norm of the seed's own
  gradients), one optimiser over the stacked parameters (RMSprop and Adam act elementwise, so per seed).
- validation, the solved rule, divergence and the curve: per seed, the episodic loop's own
  bookkeeping (``EpisodicRun``) on an ordinary model holding that seed's current weights.
- a seed that is solved (with ``stop_when_solved``) or diverged stops learning while the others go
  on: its gradient is zeroed and, after every optimiser step, its slice of the parameters and of the
  optimiser state is put back (``SeedFreezer``). When half the seeds of the computation have stopped,
  it is rebuilt with the running seeds alone (``SeedStack.compacted``).

So a seed's curve and row equal its ordinary run's, to float rounding (batched and single matrix
products may round differently: about 1e-15 relative per step in float64, 1e-7 in float32; a hard
gumbel read can turn such a difference into another trajectory after many iterations).
Time columns count the shared computation while the seed trained (the group's time).

Checkpoints: every ``checkpoint_every`` iterations every seed's checkpoint is written, in its ordinary
run's format and file (OUT/checkpoints/NAME.last.pt): its weights, its slice of the optimiser state,
its generators (data, validation, model noise), its outcome and curve, and the group's layout (which
seeds the computation holds, which of them have stopped). A group given the same seeds continues from
them bit for bit, as an ordinary run does; seeds resumed at different iterations (a kill between two
seeds' files), or in another group, each continue as their own run (to float rounding), and an
ordinary run continues a group's seed too.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn

from bench.config import TrainConfig
from bench.run_metrics import synchronize
from bench.training.checkpoint import CheckpointFile, rng_state
from bench.training.episodic import EpisodicRun, checkpoint_due, checkpoint_file
from bench.training.outcome import TrainOutcome, ValidationPoint
from bench.training.step import clip_gradients_per_seed, make_optimizer
from models.base import RecurrentModel
from models.noise import SeedNoise
from models.seeded import flush_weight_gradients, unstack_into, vectorize
from tasks.base import Batch, Task


# --- stopping seeds inside the group ----------------------------------------------------------------
class SeedFreezer:
    """Seeds that stopped learning: their gradients are zeroed before the optimiser step and their
    slices of the parameters and of the optimiser state restored after it."""

    def __init__(self, params: list[nn.Parameter], optimizer: torch.optim.Optimizer, seeds: int):
        self.params, self.optimizer = params, optimizer
        self.frozen = torch.zeros(seeds, dtype=torch.bool, device=params[0].device)
        self.anchors: dict[tuple[int, str], torch.Tensor] = {}  # (param index, "param" or state key) -> values

    def _tracked(self) -> list[tuple[tuple[int, str], torch.Tensor]]:
        """Every parameter and every per-element optimiser state tensor (same shape as its parameter)."""
        out = []
        for i, p in enumerate(self.params):
            out.append(((i, "param"), p.detach()))  # shares the version counter: a restore is an update
            for key, value in self.optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape:
                    out.append(((i, key), value))
        return out

    def freeze(self, seed: int) -> None:
        for key, tensor in self._tracked():
            if key not in self.anchors:
                self.anchors[key] = tensor.detach().clone()
            else:
                self.anchors[key][seed] = tensor[seed]
        self.frozen[seed] = True

    def _mask(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.frozen.view(-1, *([1] * (tensor.dim() - 1)))

    def zero_gradients(self) -> None:
        if not self.anchors:  # nothing frozen yet
            return
        for p in self.params:
            if p.grad is not None:
                p.grad.masked_fill_(self._mask(p.grad), 0.0)  # also a NaN gradient of a diverged seed

    def restore(self) -> None:
        if not self.anchors:
            return
        with torch.no_grad():
            for key, tensor in self._tracked():
                # state created after the freeze (by the first step) starts from zeros, as RMSprop and Adam do
                anchor = self.anchors.setdefault(key, torch.zeros_like(tensor))
                tensor.copy_(torch.where(self._mask(tensor), anchor, tensor))


# --- one step of the group -------------------------------------------------------------------------
def padded_inputs(batches: dict[int, Batch], seeds: int, batch_size: int) -> torch.Tensor:
    """The inputs of every seed's batch in its rows, seed-major, padded at the end with zeros to the
    longest: (T_max, S*B, I). Rows of seeds without a batch (stopped) are zeros."""
    first = next(iter(batches.values())).inputs
    length = max(b.inputs.shape[0] for b in batches.values())
    inputs = first.new_zeros(length, seeds * batch_size, first.shape[2])
    for s, batch in batches.items():
        inputs[: batch.inputs.shape[0], s * batch_size : (s + 1) * batch_size] = batch.inputs
    return inputs


def group_step(vmodel: RecurrentModel, task: Task, batches: dict[int, Batch], seeds: int,
               optimizer: torch.optim.Optimizer, freezer: SeedFreezer, cfg: TrainConfig,
               on_diverged: Callable[[int, float], None] = lambda s, loss: None) -> dict[int, float]:
    """``bench.training.step.train_step`` for the slots that have a batch: forward on the padded
    inputs, slot s's loss on its own steps and rows, then one update in which slot s's parameters get
    the gradient of slot s's loss only. A slot whose loss is not finite is reported (``on_diverged``,
    before the update) and left out, as ``train_step`` leaves such a step out. Every slot's loss value."""
    B = next(iter(batches.values())).inputs.shape[1]
    logits, _ = vmodel(padded_inputs(batches, seeds, B))  # fresh initial state every iteration
    losses = {s: task.loss(logits[: b.inputs.shape[0], s * B : (s + 1) * B], b) for s, b in batches.items()}
    values = dict(zip(losses, torch.stack(list(losses.values())).tolist()))
    learning = [s for s in losses if math.isfinite(values[s])]
    for s in losses:
        if s not in learning:
            on_diverged(s, values[s])
    if learning:
        optimizer.zero_grad(set_to_none=True)
        total = losses[learning[0]]
        for s in learning[1:]:
            total = total + losses[s]
        total.backward()
        flush_weight_gradients(vmodel)
        freezer.zero_gradients()
        clip_gradients_per_seed(freezer.params, cfg.clip_value, cfg.clip_norm)
        optimizer.step()
        freezer.restore()
    synchronize(next(iter(batches.values())).inputs.device)
    return values


# --- the computation -------------------------------------------------------------------------------
class SeedStack:
    """The running computation: one vectorized model over some of the seeds (slot k holds the seed at
    position ``slots[k]`` of ``models``), its optimiser, its freezer and its noise."""

    def __init__(self, models: list[RecurrentModel], slots: list[int], cfg: TrainConfig,
                 generators: list[dict[str, torch.Generator]]):
        self.models, self.slots, self.cfg, self.generators = models, slots, cfg, generators
        self.vmodel = vectorize([models[s] for s in slots])
        self.vmodel.train()
        self.optimizer = make_optimizer(self.vmodel, cfg)
        self.freezer = SeedFreezer([q for q in self.vmodel.parameters() if q.requires_grad], self.optimizer, len(slots))
        self.noise = SeedNoise([generators[s] for s in slots])

    def step(self, task: Task, batches: dict[int, Batch],
             on_diverged: Callable[[int, float], None]) -> dict[int, float]:
        """``group_step`` with batches and loss values by seed position, each slot's model noise from
        its seed's generators for the steps of its own batch."""
        by_slot = {self.slots.index(s): batch for s, batch in batches.items()}
        lengths = [by_slot[k].inputs.shape[0] if k in by_slot else 0 for k in range(len(self.slots))]
        with self.noise.active(lengths):
            values = group_step(self.vmodel, task, by_slot, len(self.slots), self.optimizer, self.freezer, self.cfg,
                                lambda k, loss: on_diverged(self.slots[k], loss))
        return {self.slots[k]: value for k, value in values.items()}

    def unstack(self, positions: list[int]) -> None:
        """The current weights of these seeds into their ordinary models."""
        unstack_into(self.vmodel, {self.slots.index(s): self.models[s] for s in positions})

    def freeze(self, s: int) -> None:
        self.unstack([s])
        self.freezer.freeze(self.slots.index(s))

    def seed_optimizer_state(self, s: int) -> dict:
        """Seed s's slice of the optimiser state as its ordinary run's optimiser's ``state_dict``."""
        k, model = self.slots.index(s), self.models[s]
        optimizer = make_optimizer(model, self.cfg)
        stacked = dict(self.vmodel.named_parameters())
        for name, param in model.named_parameters():
            state = self.optimizer.state.get(stacked[name])
            if state:
                optimizer.state[param] = {key: _slice(value, k, stacked[name]) for key, value in state.items()}
        return optimizer.state_dict()

    def load_optimizer_states(self, states: dict[int, dict], running: list[int]) -> None:
        """The optimiser state of each seed of the stack from its ordinary ``state_dict``
        (``states[s]``); the values shared by all seeds (the step count) from a running seed's."""
        per_seed = {}
        for s in self.slots:
            optimizer = make_optimizer(self.models[s], self.cfg)
            optimizer.load_state_dict(states[s])
            per_seed[s] = {name: optimizer.state.get(p, {}) for name, p in self.models[s].named_parameters()}
        shared_from = next((s for s in self.slots if s in running), self.slots[0])
        for name, param in self.vmodel.named_parameters():
            keys = {key for s in self.slots for key in per_seed[s][name]}
            state = {}
            for key in sorted(keys):
                reference = per_seed[shared_from][name].get(key)
                if reference is None:
                    reference = next(per_seed[s][name][key] for s in self.slots if key in per_seed[s][name])
                if isinstance(reference, torch.Tensor) and reference.shape == param.shape[1:]:
                    state[key] = torch.stack([per_seed[s][name].get(key, torch.zeros_like(reference))
                                              for s in self.slots]).to(param.device)
                else:
                    state[key] = reference.clone() if isinstance(reference, torch.Tensor) else reference
            if state:
                self.optimizer.state[param] = state

    def compacted(self, running: list[int]) -> "SeedStack":
        """A stack of the ``running`` seeds alone, with their weights and optimiser state: stopped
        seeds no longer cost compute."""
        self.unstack(running)
        stack = SeedStack(self.models, list(running), self.cfg, self.generators)
        stack.vmodel.set_inverse_temperature(self.vmodel.inverse_temperature)
        new_params = dict(stack.vmodel.named_parameters())
        keep = torch.tensor([self.slots.index(s) for s in running], device=next(self.vmodel.parameters()).device)
        for name, old in self.vmodel.named_parameters():
            state = {}
            for key, value in self.optimizer.state.get(old, {}).items():
                if isinstance(value, torch.Tensor):  # per-element state keeps the running seeds' slices
                    value = value[keep].clone() if value.shape == old.shape else value.clone()
                state[key] = value
            stack.optimizer.state[new_params[name]] = state
        return stack


def _slice(value, k: int, param: torch.Tensor):
    if isinstance(value, torch.Tensor):
        return value[k].clone() if value.shape == param.shape else value.clone()
    return value


# --- each seed's random streams ---------------------------------------------------------------------
def seed_generators(rng: dict, device: torch.device) -> dict[str, torch.Generator]:
    """Generators holding a run's global random state (``rng_state``'s torch and CUDA parts): the
    streams its model's noise draws from."""
    generators = {"cpu": torch.Generator()}
    generators["cpu"].set_state(rng["torch"].cpu())
    if device.type == "cuda" and rng.get("cuda") is not None:
        generators["cuda"] = torch.Generator(device=device)
        generators["cuda"].set_state(rng["cuda"].cpu())
    return generators


def generators_state(generators: dict[str, torch.Generator], rng: dict) -> dict:
    """``rng`` (a run's random state) with the torch and CUDA parts of ``generators``."""
    return {**rng, "torch": generators["cpu"].get_state(),
            "cuda": generators["cuda"].get_state() if "cuda" in generators else rng.get("cuda")}


# --- the loop --------------------------------------------------------------------------------------
def train_group(
    models: list[RecurrentModel],
    task: Task,
    cfg: TrainConfig,
    seeds: list[int],
    on_iteration: Callable[[int, int, float], None] | None = None,
    on_validation: Callable[[int, ValidationPoint], None] | None = None,
    *,
    fingerprints: list[str] | None = None,
    rng: list[dict] | None = None,
) -> list[TrainOutcome]:
    """Train ``models`` (one per seed, in the order of ``seeds``) as one computation; each seed's
    outcome as ``bench.training.episodic.train`` reports its run, and its final weights in its model.
    Callbacks get the seed's position first: on_iteration(s, iteration, loss), on_validation(s, point).
    ``fingerprints[s]``: seed s's run fingerprint (names its checkpoint; none are written without
    them or ``cfg.output_dir``). ``rng[s]``: the random state seed s's ordinary run would start
    training from (``rng_state``; default: the current one for every seed); left at its end state."""
    device = next(models[0].parameters()).device
    rng = rng if rng is not None else [rng_state(device) for _ in seeds]
    files = [checkpoint_file(m, task, cfg, seed, fp) for m, seed, fp in zip(models, seeds, fingerprints)] \
        if fingerprints else [None] * len(seeds)
    saved = [f.load(device) if f else None for f in files]
    done = [c["iteration"] if c else 0 for c in saved]
    if len(set(done)) > 1:  # killed between two seeds' files, or another group's seeds: each part on its own
        return _in_parts(models, task, cfg, seeds, on_iteration, on_validation, fingerprints, rng, done)
    return _train(models, task, cfg, seeds, on_iteration, on_validation, files, saved, rng)


def _in_parts(models, task, cfg, seeds, on_iteration, on_validation, fingerprints, rng, done) -> list[TrainOutcome]:
    outcomes: list[TrainOutcome | None] = [None] * len(seeds)
    for iteration in sorted(set(done)):
        part = [s for s in range(len(seeds)) if done[s] == iteration]
        part_rng = [rng[s] for s in part]
        results = train_group(
            [models[s] for s in part], task, cfg, [seeds[s] for s in part],
            on_iteration and (lambda k, it, loss, part=part: on_iteration(part[k], it, loss)),
            on_validation and (lambda k, point, part=part: on_validation(part[k], point)),
            fingerprints=[fingerprints[s] for s in part], rng=part_rng)
        for s, outcome, state in zip(part, results, part_rng):
            outcomes[s], rng[s] = outcome, state
    return outcomes


def _train(models, task, cfg, seeds, on_iteration, on_validation, files: list[CheckpointFile | None],
           saved: list[dict | None], rng: list[dict]) -> list[TrainOutcome]:
    start = time.perf_counter()
    S, B = len(models), cfg.batch_size
    p = next(models[0].parameters())
    device = p.device
    runs = [EpisodicRun.fresh(cfg, seed) for seed in seeds]
    optimizer_states: dict[int, dict] = {}  # seed position -> its optimiser's state_dict, from a checkpoint
    slots = list(range(S))
    for s, checkpoint in enumerate(saved):
        if checkpoint is None:
            models[s].train()
            runs[s].set_reference(models[s], task, cfg, seeds[s])
            continue
        models[s].load_state_dict(checkpoint["model"])
        models[s].set_inverse_temperature(checkpoint["inverse_temperature"])
        runs[s].restore(checkpoint)
        rng[s] = checkpoint["rng"]
        optimizer_states[s] = checkpoint["optimizer"]
    running = [s for s in range(S) if not runs[s].stopped]
    if saved[0] is not None:
        slots = _layout(saved, seeds, running)
    generators = [seed_generators(state, device) for state in rng]
    stopped_optimizer: dict[int, dict] = {s: optimizer_states[s] for s in range(S) if runs[s].stopped}
    stack = None
    if running:
        stack = SeedStack(models, slots, cfg, generators)
        if optimizer_states:
            stack.load_optimizer_states(optimizer_states, running)
        for k, s in enumerate(slots):
            if runs[s].stopped:
                stack.freezer.freeze(k)
        stack.vmodel.set_inverse_temperature(models[running[0]].inverse_temperature)
    for s, checkpoint in enumerate(saved):  # once the computation is built (it may refuse the model)
        for point in runs[s].outcome.curve if checkpoint and on_validation else []:
            on_validation(s, point)  # the resumed run's curve is whole in curves.csv too

    def stop(s: int) -> None:
        """Seed s stops learning (its outcome says why); its weights and optimiser slice are kept."""
        stack.freeze(s)
        stopped_optimizer[s] = stack.seed_optimizer_state(s)
        runs[s].stopped = True
        running.remove(s)
        runs[s].outcome.wall_time_s = runs[s].wall_before_s + time.perf_counter() - start

    def save(iteration: int) -> None:
        stack.unstack(running)
        layout = {"seeds": list(seeds), "slots": [seeds[k] for k in stack.slots]}
        for s, file in enumerate(files):
            run = runs[s]
            if not run.stopped:
                run.outcome.wall_time_s = run.wall_before_s + time.perf_counter() - start
            run.done = iteration
            optimizer = stopped_optimizer[s] if run.stopped else stack.seed_optimizer_state(s)
            file.save(**run.checkpoint(models[s].state_dict(), optimizer, generators_state(generators[s], rng[s]),
                                       models[s].inverse_temperature, group=layout))

    first = runs[0].done + 1
    for iteration in range(first, cfg.iterations + 1):
        if not running:
            break
        t0 = time.perf_counter()
        inverse_temperature = cfg.inverse_temperature.at(iteration - 1)
        stack.vmodel.set_inverse_temperature(inverse_temperature)
        batches = {s: task.sample(B, runs[s].train_gen).to(device, p.dtype) for s in running}

        def diverged(s: int, loss: float) -> None:  # before any update, as the ordinary loop breaks
            runs[s].outcome.diverge(iteration, f"training loss is {loss}")
            stop(s)

        values = stack.step(task, batches, diverged)
        elapsed = time.perf_counter() - t0
        for s in running:
            runs[s].trained(iteration, values[s], batches[s].steps, elapsed, cfg)
            if on_iteration:
                on_iteration(s, iteration, values[s])

        if running and EpisodicRun.validates_at(iteration, cfg):
            stack.unstack(running)
            for s in running:
                models[s].set_inverse_temperature(inverse_temperature)
                runs[s].validation(models[s], task, cfg, iteration,
                                   on_validation and (lambda point, s=s: on_validation(s, point)))
        for s in [s for s in running if runs[s].stops(cfg)]:
            stop(s)
        if running and len(running) <= len(stack.slots) // 2:
            stack = stack.compacted(running)
        if all(files) and checkpoint_due(iteration, cfg) and running:
            save(iteration)

    if stack is not None:
        for s in list(running):
            stack.unstack([s])
            runs[s].end_of_budget()
            runs[s].outcome.wall_time_s = runs[s].wall_before_s + time.perf_counter() - start
        running.clear()
    for s in range(S):
        rng[s] = generators_state(generators[s], rng[s])
        if files[s]:
            files[s].delete()  # the run finished: a rerun trains afresh (--resume skips it by its row)
    return [run.outcome for run in runs]


def _layout(saved: list[dict], seeds: list[int], running: list[int]) -> list[int]:
    """The slots of the computation the checkpoints were written from, if they name this very group;
    else the running seeds."""
    layouts = [c.get("group") for c in saved]
    if layouts[0] and all(layout == layouts[0] for layout in layouts) and layouts[0]["seeds"] == list(seeds):
        return [seeds.index(seed) for seed in layouts[0]["slots"]]
    return list(running)
