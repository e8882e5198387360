"""Our models against the ARMIN authors' own classes, in the same run: one training iteration of the
copy task (Table 1 setup: batch 1, length L, forward over every step, binary cross-entropy, backward,
gradients clipped by value to 10, RMSprop), each side built at the same sizes, timed in interleaved
rounds on one thread. Also the operators each of our steps dispatches (bench/op_count.py).

    OMP_NUM_THREADS=1 python benchmarks/authors_speed.py --authors PATH/armin/algorithimic_tasks
    python benchmarks/authors_speed.py                      # operator counts and our times only

PATH is a checkout of github.com/zoharli/armin (read at commit 9bf8e45). It is never imported from
there: its algorithimic_tasks folder is copied to a temporary folder where two lines that today's
Python and torch refuse are patched (``async=True``, a keyword since Python 3.7, becomes
``non_blocking=True`` in dnc/util.py; pyflann, used only by their SparseMemory, is stubbed). Pairs:
lstm, armin-code, tardis-code, awta-code (their MARNN classes, algorithimic_tasks/marnn.py), ntm-code
(ntm/ntm.py), dnc-code (dnc/dnc.py); their SAM needs the FLANN index and is left out.

Not a unit test: run by hand, numbers in the report that asked for them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.config import load_config, resolve_preset  # noqa: E402
from bench.op_count import OperatorCounter  # noqa: E402
from models import MODEL_REGISTRY, build_model  # noqa: E402
from tasks import build_task  # noqa: E402

BITS = 8
CLIP = 10.0
RMSPROP = {"lr": 1e-4, "alpha": 0.95, "momentum": 0.9}  # the authors' defaults (algorithimic_tasks/args.py)
PRESETS = ("lstm", "armin", "armin-code", "tardis", "tardis-code", "awta", "awta-code", "ntm", "ntm-code",
           "dnc", "dnc-code", "sam", "sam-code", "fastweights", "learned-assoc")


class Ours:
    """One training iteration of a preset on a fixed copy batch."""

    def __init__(self, preset: str, length: int):
        config = load_config()
        cls, options = resolve_preset(config, "models", preset, MODEL_REGISTRY)
        task = build_task("copy", bits=BITS, min_length=length, max_length=length)
        torch.manual_seed(0)
        self.model = build_model(cls, input_size=task.input_size, output_size=task.output_size, **options)
        self.model.train()
        self.task, self.batch = task, task.max_batch(1)
        self.optimizer = torch.optim.RMSprop(self.model.parameters(), **RMSPROP)
        self.steps = self.batch.inputs.shape[0]

    def step(self, counter: OperatorCounter | None = None) -> None:
        phase = counter.phase if counter else (lambda name: _null())
        self.optimizer.zero_grad()
        with phase("forward"):
            logits, _ = self.model(self.batch.inputs)
            loss = self.task.loss(logits, self.batch)
        with phase("backward"):
            loss.backward()
        nn.utils.clip_grad_value_(self.model.parameters(), CLIP)
        with phase("optimizer"):
            self.optimizer.step()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def load_authors(path: Path) -> types.ModuleType:
    """The authors' algorithimic_tasks folder, copied and patched (see the module docstring), on sys.path."""
    work = Path(tempfile.mkdtemp(prefix="armin-authors-")) / "algorithimic_tasks"
    shutil.copytree(path, work)
    for file in (work / "dnc").glob("*.py"):
        file.write_text(file.read_text().replace("async=True", "non_blocking=True"))
    sys.modules.setdefault("pyflann", types.ModuleType("pyflann"))
    sys.path.insert(0, str(work))
    import args as their_args  # noqa: F401  (their argument parser: the config their classes read)

    return their_args


class Theirs:
    """One training iteration of the authors' class on the same copy length, as their train.py runs it
    (algorithimic_tasks/train.py: reset, one call per input step, then per output step, BCE, backward,
    clip by value, RMSprop)."""

    def __init__(self, preset: str, length: int, their_args):
        import marnn
        from dnc import DNC
        from ntm import NTM

        torch.manual_seed(0)
        input_size, output_size = BITS + 2, BITS
        cfg = their_args.get_parser().parse_args([])
        if preset == "ntm-code":
            self.model = NTM(input_size=input_size, output_size=output_size, controller_size=120,
                             memory_units=128, memory_unit_size=20, num_heads=1)
        elif preset == "dnc-code":
            self.model = DNC(input_size=input_size, output_size=output_size, hidden_size=120, nr_cells=128,
                             cell_size=20, read_heads=1)
            self.model.init_param()
        else:
            cfg.model = {"lstm": "lstm", "armin-code": "armin", "tardis-code": "tardis", "awta-code": "awta"}[preset]
            cfg.lstm_size = 120 if preset == "tardis-code" else 300 if preset == "lstm" else 100
            cfg.r_size, cfg.mem_cap = 32, 50
            self.model = marnn.MARNN(cfg, input_size=input_size, num_units=cfg.lstm_size, output_size=output_size,
                                     use_zoneout=False, use_ln=False)
        self.optimizer = torch.optim.RMSprop(self.model.parameters(), **RMSPROP)
        g = torch.Generator().manual_seed(0)
        seq = torch.randint(0, 2, (length, BITS), generator=g).float()
        self.input = torch.zeros(length + 2, BITS + 2)
        self.input[0, BITS] = 1.0
        self.input[1:length + 1, :BITS] = seq
        self.input[length + 1, BITS + 1] = 1.0
        self.target = seq
        self.criterion = nn.BCELoss()

    def step(self) -> None:
        self.optimizer.zero_grad()
        self.model.reset()
        out = torch.zeros(self.target.size())
        for x in self.input:
            self.model(x.unsqueeze(0))
        blank = torch.zeros(1, self.input.shape[1])
        for i in range(self.target.shape[0]):
            out[i] = self.model(blank)
        loss = self.criterion(out, self.target)
        loss.backward()
        nn.utils.clip_grad_value_(self.model.parameters(), CLIP)
        self.optimizer.step()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors", type=Path, help="the authors' algorithimic_tasks folder (github zoharli/armin)")
    parser.add_argument("--length", type=int, default=20, help="copy length L (default 20)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds (default 15)")
    parser.add_argument("--models", default=",".join(PRESETS), help="comma-separated presets")
    args = parser.parse_args()
    torch.set_num_threads(1)
    presets = [p for p in args.models.split(",") if p]
    their_args = load_authors(args.authors) if args.authors else None
    steps: dict[str, object] = {}
    for preset in presets:
        steps[preset] = Ours(preset, args.length)
        if their_args is not None and preset in ("lstm", "armin-code", "tardis-code", "awta-code", "ntm-code",
                                                  "dnc-code"):
            steps["authors " + preset] = Theirs(preset, args.length, their_args)
    for step in steps.values():  # warm-up
        step.step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.thread_time()
            step.step()
            times[name].append(time.thread_time() - start)
    print(f"torch {torch.__version__}, copy length {args.length}, batch 1, {args.rounds} interleaved rounds, "
          "1 thread; time: least thread CPU ms of one training iteration (other processes inflate it little)")
    print(f"{'model':<14}{'T':>4}{'ops fwd':>9}{'ops bwd':>9}{'ops opt':>8}{'ops/t':>7}{'ms':>8}"
          f"{'authors ms':>11}{'x faster':>9}")
    for preset in presets:
        ours = steps[preset]
        counter = OperatorCounter()
        ours.step(counter)
        c = counter.counts
        ms = 1e3 * min(times[preset])
        theirs = times.get("authors " + preset)
        ref = f"{1e3 * min(theirs):>11.1f}{min(theirs) / min(times[preset]):>9.2f}" if theirs else f"{'-':>11}{'-':>9}"
        print(f"{preset:<14}{ours.steps:>4}{c['forward']:>9,}{c['backward']:>9,}{c['optimizer']:>8,}"
              f"{(c['forward'] + c['backward']) / ours.steps:>7.0f}{ms:>8.1f}{ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
