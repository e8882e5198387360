"""Vectorized seeds: the seeds of one (model, task, options) trained as one computation.

    bench run -m armin -t copy --seeds 16 --vectorize-seeds

At batch 1 a training step is bound by per-operation overhead, so S seeds computed as one batched step
cost far less than S steps. The S models (each built after ``torch.manual_seed(seed)``, so each seed's
initial weights are exactly those of an ordinary run) become one model whose parameters carry a
leading seed dimension (models/seeded.py); its batch axis carries seeds x batch.

Per seed, exactly as an ordinary run (bench/training/episodic.py):
- data: seed s draws its batches from its own stream (``torch.Generator().manual_seed(s)``, its
  ordinary run's stream), with one shared sequence length per iteration, the only coupling between
  the seeds: the length of the first running seed's next batch (that seed gets exactly its ordinary
  run's batches); every other seed takes, from its own stream, its earliest unused batch of that
  length, keeping batches of other lengths for later iterations (``SeedStreams``). Seed s's loss is
  the task's loss on its own slice of the logits. (Batches of different lengths, should a seed find
  none of the shared length, are padded at the end with zero inputs: the models are causal, so the
  padded steps change neither the loss nor the gradient of any seed; they only cost compute.)
- optimiser and value clipping: one optimiser over the stacked parameters; RMSprop, Adam and clipping
  by value act elementwise, hence per seed.
- validation, the solved rule, divergence, the curve and the result row: per seed, on an ordinary
  model holding that seed's current weights (its own validation stream), through the runner's usual
  path (``bench.execution.run.execute``), so a row is made exactly as for an ordinary run.
- a seed that is solved (with ``stop_when_solved``) or diverged stops learning while the others go
  on: its gradient is zeroed and, after every optimiser step, its slice of the parameters and of the
  optimiser state is put back (masked). Its rows still run through the computation until half the
  seeds of the computation have stopped; then it is rebuilt with the running seeds alone, their
  weights and optimiser state carried over (``SeedStack.compacted``), so a group's slowest seed does
  not pay for the seeds that are done.

What differs from S ordinary runs:
- the order of a seed's batches (not the first seed's): its stream's batches, taken in the order the
  shared lengths call for them. With one length (e.g. ``min_length = max_length``) it is the order of
  its ordinary run.
- randomness inside the model (gumbel noise, zoneout) comes from the global RNG once for all seeds,
  so for S > 1 a seed's noise is not that of its ordinary run (with S = 1 it is: the run is identical).
- time columns: ``train_time_s`` (and ``time_to_solve_s``, ``train_steps_per_s``) count the shared
  computation while the seed trained, the group's time, not a share of it. ``train_options`` holds
  ``"vectorized": S``.
- peak memory columns are those of the row's own bookkeeping, not of the group's training.

Models that do not declare support (``supports_vectorized_seeds``), groups of one seed, and tasks with
another training loop than the episodic one run seeds one by one, as without the flag.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict, deque
from typing import Any, Callable

import torch
from torch import nn

from bench.config import RunSpec, TrainConfig
from bench.execution.executor import Event, EmitEvent, Executor
from bench.execution.run import RunJob, execute
from bench.run_metrics import synchronize
from bench.status import DIVERGED, SOLVED, UNSOLVED
from bench.training import DTYPES, TrainOutcome, ValidationPoint, make_optimizer
from bench.training.divergence import DivergenceRule
from bench.training.episodic import VALIDATION_SEED_OFFSET, initial_validation_loss, is_solved, validate
from models import MODEL_REGISTRY, build_model
from models.base import RecurrentModel
from models.seeded import NotVectorizable, flush_weight_gradients, supports_vectorized_seeds, unstack_into, vectorize
from tasks import TASK_REGISTRY, build_task
from tasks.base import Batch, Task

EPISODIC = "episodic"  # the training loop vectorized here (fresh state every iteration)


# --- which runs train together ----------------------------------------------------------------------
def group_key(spec: RunSpec) -> str:
    """Everything that defines a run but its seed."""
    return json.dumps([spec.model, spec.model_class, spec.model_options, spec.task, spec.task_class,
                       spec.task_options, spec.train.to_dict()], sort_keys=True, default=str)


def seed_groups(specs: list[RunSpec]) -> tuple[list[list[int]], list[int]]:
    """Positions of ``specs`` that train together (groups of one ``group_key``, more than one seed,
    vectorizable), in the order of first appearance, and the positions of the others."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, spec in enumerate(specs):
        groups[group_key(spec)].append(index)
    together, alone = [], []
    for group in groups.values():
        if len(group) > 1 and vectorizable(specs[group[0]]):
            together.append(group)
        else:
            alone.extend(group)
    return together, sorted(alone)


def vectorizable(spec: RunSpec) -> bool:
    """The model declares support and the task trains with the episodic loop."""
    model_ok = supports_vectorized_seeds(MODEL_REGISTRY[spec.model_class])
    return model_ok and getattr(TASK_REGISTRY[spec.task_class], "trainer", EPISODIC) == EPISODIC


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


# --- each seed's data -------------------------------------------------------------------------------
MAX_DRAWS = 1_000  # draws a seed makes for a batch of the iteration's length before it takes another length
POOL_LIMIT = 1_000  # batches a seed keeps for later iterations


class SeedStreams:
    """Every seed's batches come from its own stream (``torch.Generator().manual_seed(seed)``, as in
    its ordinary run), and the seeds of one iteration get batches of one length: the length of the
    first running seed's next batch (the only coupling between the seeds). Another seed takes the
    earliest batch of that length it has drawn and not used, drawing more from its stream as needed;
    batches of other lengths wait in its pool for an iteration that calls for them. If none comes in
    ``MAX_DRAWS`` draws, it takes its last draw, which ``padded_inputs`` pads (exact, only slower)."""

    def __init__(self, task: Task, batch_size: int, seeds: list[int]):
        self.task, self.batch_size = task, batch_size
        self.gens = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.pools: list[dict[int, deque[Batch]]] = [defaultdict(deque) for _ in seeds]
        self.pooled = [0] * len(seeds)

    def draw(self, running: list[int]) -> dict[int, Batch]:
        """One batch for each running seed (positions in ``seeds``), all of the first one's length."""
        first = self.task.sample(self.batch_size, self.gens[running[0]])
        length = first.inputs.shape[0]
        return {running[0]: first, **{s: self._take(s, length) for s in running[1:]}}

    def _take(self, s: int, length: int) -> Batch:
        pool = self.pools[s]
        if pool[length]:
            self.pooled[s] -= 1
            return pool[length].popleft()
        for _ in range(MAX_DRAWS):
            batch = self.task.sample(self.batch_size, self.gens[s])
            if batch.inputs.shape[0] == length:
                return batch
            if self.pooled[s] < POOL_LIMIT:
                pool[batch.inputs.shape[0]].append(batch)
                self.pooled[s] += 1
        return batch


# --- the group's training loop ---------------------------------------------------------------------
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
               optimizer: torch.optim.Optimizer, freezer: "SeedFreezer", cfg: TrainConfig,
               on_diverged: Callable[[int], None] = lambda s: None) -> dict[int, float]:
    """One training iteration of the seeds that have a batch: forward on the padded inputs, seed s's
    loss on its own slice, then one update in which seed s's parameters get the gradient of seed s's
    loss only. A seed whose loss is not finite is reported (``on_diverged``, before the update) and
    left out. Returns every seed's loss value."""
    B = next(iter(batches.values())).inputs.shape[1]
    logits, _ = vmodel(padded_inputs(batches, seeds, B))  # fresh initial state every iteration
    losses = {s: task.loss(logits[: b.inputs.shape[0], s * B : (s + 1) * B], b) for s, b in batches.items()}
    values = dict(zip(losses, torch.stack(list(losses.values())).tolist()))
    learning = [s for s in losses if math.isfinite(values[s])]
    for s in losses:
        if s not in learning:
            on_diverged(s)
    if learning:
        optimizer.zero_grad(set_to_none=True)
        total = losses[learning[0]]
        for s in learning[1:]:
            total = total + losses[s]
        total.backward()
        flush_weight_gradients(vmodel)
        freezer.zero_gradients()
        if cfg.clip_value > 0:
            torch.nn.utils.clip_grad_value_(freezer.params, cfg.clip_value)
        optimizer.step()
        freezer.restore()
    return values


class SeedStack:
    """The running computation: one vectorized model over some of the seeds (slot k holds the seed at
    position ``slots[k]`` of ``models``), its optimiser and its freezer."""

    def __init__(self, models: list[RecurrentModel], slots: list[int], cfg: TrainConfig):
        self.models, self.slots = models, slots
        self.vmodel = vectorize([models[s] for s in slots])
        self.vmodel.train()
        self.optimizer = make_optimizer(self.vmodel, cfg)
        self.freezer = SeedFreezer([q for q in self.vmodel.parameters() if q.requires_grad], self.optimizer, len(slots))

    def step(self, task: Task, batches: dict[int, Batch], cfg: TrainConfig,
             on_diverged: Callable[[int], None]) -> dict[int, float]:
        """``group_step`` with batches and loss values by seed position."""
        by_slot = {self.slots.index(s): batch for s, batch in batches.items()}
        values = group_step(self.vmodel, task, by_slot, len(self.slots), self.optimizer, self.freezer, cfg,
                            lambda k: on_diverged(self.slots[k]))
        return {self.slots[k]: value for k, value in values.items()}

    def unstack(self, positions: list[int]) -> None:
        """The current weights of these seeds into their ordinary models."""
        unstack_into(self.vmodel, {self.slots.index(s): self.models[s] for s in positions})

    def freeze(self, s: int) -> None:
        self.unstack([s])
        self.freezer.freeze(self.slots.index(s))

    def compacted(self, running: list[int], cfg: TrainConfig) -> "SeedStack":
        """A stack of the ``running`` seeds alone, with their weights and optimiser state: stopped
        seeds no longer cost compute."""
        self.unstack(running)
        stack = SeedStack(self.models, list(running), cfg)
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


def train_group(
    models: list[RecurrentModel],
    task: Task,
    cfg: TrainConfig,
    seeds: list[int],
    on_iteration: Callable[[int, int, float], None] | None = None,
    on_validation: Callable[[int, ValidationPoint], None] | None = None,
) -> list[TrainOutcome]:
    """Train ``models`` (one per seed, in the order of ``seeds``) as one computation; each seed's
    outcome as ``bench.training.episodic.train`` would report it, and its final weights left in its model.
    Callbacks get the seed's position first: on_iteration(s, iteration, loss), on_validation(s, point).
    When half the seeds of the computation have stopped, it is rebuilt with the others alone."""
    S, B = len(models), cfg.batch_size
    stack = SeedStack(models, list(range(S)), cfg)
    p = next(stack.vmodel.parameters())
    device = p.device
    streams = SeedStreams(task, B, seeds)
    val_gens = [torch.Generator().manual_seed(seed + VALIDATION_SEED_OFFSET) for seed in seeds]
    outcomes = [TrainOutcome(status=UNSOLVED) for _ in seeds]
    rules = [DivergenceRule.from_config(cfg) for _ in seeds]  # the episodic loop's rule, per seed
    if cfg.divergence_patience:
        for s, seed in enumerate(seeds):
            rules[s].reference = initial_validation_loss(models[s], task, cfg, seed)
    val_losses: list[list[float]] = [[] for _ in seeds]
    loss_sums, loss_counts = [0.0] * S, [0] * S
    running = list(range(S))  # seeds still learning
    start = time.perf_counter()

    def stop(s: int, status: str | None = None, diverged_at: int | None = None, reason: str | None = None) -> None:
        stack.freeze(s)
        running.remove(s)
        if status:
            outcomes[s].status, outcomes[s].diverged_at = status, diverged_at
            outcomes[s].diverged_reason = reason
        outcomes[s].wall_time_s = time.perf_counter() - start

    for iteration in range(1, cfg.iterations + 1):
        if not running:
            break
        t0 = time.perf_counter()
        inverse_temperature = cfg.inverse_temperature.at(iteration - 1)
        stack.vmodel.set_inverse_temperature(inverse_temperature)
        batches = {s: batch.to(device, p.dtype) for s, batch in streams.draw(running).items()}
        # a diverged seed stops before any update, as the ordinary loop breaks
        values = stack.step(task, batches, cfg, on_diverged=lambda s: stop(s, DIVERGED, iteration, "training loss is not finite"))
        synchronize(device)
        elapsed = time.perf_counter() - t0
        for s in running:
            out = outcomes[s]
            out.train_time_s += elapsed
            out.iterations_run = iteration
            out.train_steps += batches[s].steps
            loss_sums[s], loss_counts[s] = loss_sums[s] + values[s], loss_counts[s] + 1
            out.record_train_loss(iteration, values[s], cfg.train_loss_window, cfg.solved_threshold)
            if on_iteration:
                on_iteration(s, iteration, values[s])

        if running and (iteration % cfg.val_every == 0 or iteration == cfg.iterations):
            stack.unstack(running)
            for s in list(running):
                models[s].set_inverse_temperature(inverse_temperature)
                t1 = time.perf_counter()
                val_loss = validate(models[s], task, cfg, val_gens[s])
                out = outcomes[s]
                out.val_time_s += time.perf_counter() - t1
                point = ValidationPoint(iteration, val_loss, loss_sums[s] / loss_counts[s],
                                        inverse_temperature, out.train_time_s)
                loss_sums[s], loss_counts[s] = 0.0, 0
                out.curve.append(point)
                if on_validation:
                    on_validation(s, point)
                reason = rules[s].check_validation(val_loss)
                if reason:
                    stop(s, DIVERGED, iteration, reason)
                    continue
                val_losses[s].append(val_loss)
                if out.iterations_to_solve is None and is_solved(val_losses[s], cfg):
                    out.status, out.iterations_to_solve, out.time_to_solve_s = SOLVED, iteration, out.train_time_s
        for s in [s for s in running if outcomes[s].should_stop(cfg.stop_when_solved, cfg.stop_after_both_measures)]:
            stop(s)
        if running and len(running) <= len(stack.slots) // 2:
            stack = stack.compacted(running, cfg)

    for s in list(running):
        stop(s)
    return outcomes


# --- one row per seed, through the usual run path --------------------------------------------------
def _replay(trained: RecurrentModel, outcome: TrainOutcome, cfg: TrainConfig, seeds: int):
    """A training loop for ``bench.execution.run.execute`` whose training already happened in the
    group: it hands over the seed's weights, curve and outcome, so the row is made as for any run."""

    def loop(model, task, _cfg, _seed, _on_iteration, on_validation, **_ignored) -> TrainOutcome:
        model.load_state_dict(trained.state_dict())
        model.set_inverse_temperature(trained.inverse_temperature)
        for point in outcome.curve:
            on_validation(point)
        train_options = {**cfg.to_dict(), "vectorized": seeds}
        return TrainOutcome(**{**vars(outcome), "extra": {"train_options": json.dumps(train_options, sort_keys=True)}})

    return loop


def _failed(error: Exception):
    def loop(*_args, **_kwargs) -> TrainOutcome:
        raise error

    return loop


def execute_group(jobs: list[RunJob], emit: Callable[..., None]) -> list[dict[str, Any]]:
    """Train the seeds of ``jobs`` (one group) together; returns one row per seed. ``emit(s, kind,
    *data)`` reports seed position ``s``'s progress while the group trains and its validation points
    (once, as its row is made)."""
    specs = [job.spec for job in jobs]
    cfg = specs[0].train
    device = torch.device(cfg.device)
    if cfg.threads or jobs[0].threads:
        torch.set_num_threads(cfg.threads or jobs[0].threads)
    try:
        task = build_task(specs[0].task_class, **specs[0].task_options)
        models = []
        for spec in specs:
            torch.manual_seed(spec.seed)  # each seed's initial weights as in its ordinary run
            model = build_model(spec.model_class, **spec.model_options)
            models.append(model.to(device=device, dtype=DTYPES[cfg.dtype]))
        outcomes = train_group(models, task, cfg, [spec.seed for spec in specs],
                               lambda s, it, loss: emit(s, "progress", it, loss))
        loops = [_replay(model, outcome, cfg, len(specs)) for model, outcome in zip(models, outcomes)]
    except NotVectorizable:  # an option of the model needs a layer or operation without a per-seed version
        return [execute(job, lambda kind, *data, s=s: emit(s, kind, *data)) for s, job in enumerate(jobs)]
    except Exception as err:  # noqa: BLE001 - recorded in every seed's row, as a failed run is recorded
        loops = [_failed(err)] * len(jobs)
    return [execute(job, lambda kind, *data, s=s: emit(s, kind, *data), train_loop=loop)
            for s, (job, loop) in enumerate(zip(jobs, loops))]


def execute_unit(jobs: list[RunJob], emitters: list[Callable[[str, Any], None]]) -> list[dict[str, Any]]:
    """An executor's unit of work, where it runs: one run (``execute``) or the seeds of one vectorized
    group trained together (``execute_group``); ``emitters[s]`` takes job ``s``'s events. A row per job."""
    if len(jobs) == 1:
        return [execute(jobs[0], emitters[0])]
    return execute_group(jobs, lambda s, kind, *data: emitters[s](kind, *data))


class SeedGroupExecutor(Executor):
    """``--vectorize-seeds``: the seeds of each vectorizable (model, task, options) group train as one
    computation. An executor that runs units of work (``run_units``: worker processes and Ray, where
    each group is one unit) is given the groups and the other runs together; otherwise the groups train in
    this process, one at a time, and every other job goes to ``inner`` (the executor the command would
    use anyway). The sweep stays the only writer of rows and curves."""

    name = "vectorized"

    def __init__(self, inner: Executor):
        self.inner = inner

    def run(self, jobs: list[RunJob], emit: EmitEvent) -> None:
        together, alone = seed_groups([job.spec for job in jobs])
        if hasattr(self.inner, "run_units"):
            self.inner.run_units(jobs, together + [[index] for index in alone], emit)
            return
        if alone:
            self.inner.run([jobs[i] for i in alone], lambda e: emit(Event(alone[e.index], e.kind, e.data)))
        for group in together:
            for index in group:
                emit(Event(index, "start"))
            rows = execute_group([jobs[i] for i in group],
                                 lambda s, kind, *data, g=group: emit(Event(g[s], kind, data)))
            for index, row in zip(group, rows):
                emit(Event(index, "done", (row,)))
