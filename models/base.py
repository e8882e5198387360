"""The one interface every model adapter implements, and the model registry.

A model maps an input sequence to output logits, one time step at a time, carrying an explicit
recurrent state. The state is a flat ``dict[str, Tensor]`` (hidden vectors, memory matrices, read
vectors, usage, fill counters): it is returned by every call and passed back in, never stored on the
module, so truncated BPTT, checkpointing and inspection in tests all work the same for every model.

    model = build_model("armin", input_size=10, output_size=8, hidden_size=100, memory_slots=50)
    state = model.initial_state(batch_size=1)
    logits, state = model(x, state)           # x (T, B, I) -> logits (T, B, O)
    y_t, state = model.step(x[0], state)      # one time step: (B, I) -> (B, O)
    state = detach_state(state)               # cut the gradient between TBPTT segments
    model.eval()                              # inference mode: each model's fast path, if it has one

Adding a model: one file in models/ whose class is decorated with ``@register_model("name")`` and
whose config is a dataclass subclass of ``ModelConfig``. Named presets (sizes, variants) live in
benchmarks.yaml and need no code.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

import torch
from torch import nn

from models import noise
from models.layers import sequence_weights
from models.registry import Registry

State = dict[str, torch.Tensor]


@dataclass
class ModelConfig:
    """Fields every model has; each model's config subclasses this and adds its own."""

    input_size: int = 1  # d_i: width of x_t
    output_size: int = 1  # width of the logits y_t
    hidden_size: int = 100  # d_h: controller / cell size
    memory_slots: int = 0  # n_mem: number of memory rows (0 for models without external memory)
    memory_width: int = 0  # d_r: width of one memory row (0 = same as hidden_size where it applies)

    def validate(self) -> None:
        """Raise ValueError with a readable message on impossible sizes."""
        for name in ("input_size", "output_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("memory_slots", "memory_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RecurrentModel(nn.Module):
    """Base class of every adapter.

    A subclass builds ``self.readout`` (the output layer) and implements ``initial_state`` and
    ``cell``: one time step from x_t to the features the output layer reads (the paper's o_t). The
    base class turns that into ``step`` (one step, with the output layer) and ``forward`` (the whole
    sequence, with the output layer applied once to all steps). A model with a faster whole-sequence
    path (the fused LSTM) overrides ``forward``.
    """

    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    registry_name: ClassVar[str] = ""
    # State key of a memory that the inference path updates in place (ARMIN, TARDIS, SAM: paper
    # section 5's "list of discrete memory slots"); None for models that never write in place.
    inplace_memory: ClassVar[str | None] = None
    # True where the seeds of one run may train as one computation (models/seeded.py): batch rows
    # independent, parameters in linear maps, LSTM cells, layer norms or held by the module itself.
    supports_vectorized_seeds: ClassVar[bool] = False
    # Memory at work (``recording_memory``; bench inspect): None on the normal path, which then costs
    # one attribute test per step. When a list, a memory model appends each step's addressing to it:
    # {"read": (B, H_r, N), "write": (B, H_w, N)} weights per head, and where the model has them
    # "usage", "allocation" (B, N). Observation only: never read back, never part of the state.
    memory_trace: list | None = None
    readout: nn.Module

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        # Gumbel-softmax inverse temperature (1 / tau). A training hyperparameter annealed by the
        # trainer, not recurrent state; models without a discrete read ignore it.
        self.inverse_temperature = 1.0

    # --- what a subclass implements --------------------------------------------------------------
    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        raise NotImplementedError

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One time step: x_t (B, I) -> output features (B, F) and the next state."""
        raise NotImplementedError

    # --- what every model offers -----------------------------------------------------------------
    def step(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One time step: x_t (B, I) -> logits (B, O) and the next state."""
        features, state = self.cell(x_t, state)
        return self.readout(features), state

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Whole sequence: x (T, B, I) -> logits (T, B, O) and the final state."""
        if state is None:
            state = self.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
        elif self.writes_in_place():  # one copy up front, so the caller's memory is never modified
            state = {**state, self.inplace_memory: state[self.inplace_memory].clone()}
        return self.unroll(x, state)

    def unroll(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """The cell over every step of x (T, B, I) from ``state``, then the readout: (T, B, O), final state."""
        features = []
        with sequence_weights(self):  # weight gradients of the step's linear maps once per sequence
            for x_t in x:
                o_t, state = self.cell(x_t, state)
                features.append(o_t)
                noise.step_done()  # a seed group's noise knows which seeds' sequences go on
        return self.readout(torch.stack(features)), state

    def set_inverse_temperature(self, value: float) -> None:
        self.inverse_temperature = float(value)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def writes_in_place(self) -> bool:
        """True in inference without autograd for models with an in-place memory path: the memory is
        then updated in place, no copy per step."""
        return self.inplace_memory is not None and not self.training and not torch.is_grad_enabled()

    def read_kind(self) -> str:
        """How the memory is read in the current mode: "soft" (read weights sum to 1 over the slots)
        or "hard" (one slot: one-hot weights). Models without a memory: "none"."""
        return "soft" if self.config.memory_slots else "none"

    def eval_matches_train(self) -> bool:
        """True where training mode and inference mode compute the same outputs (no sampling, dropout
        or approximate inference path); ``bench check-model`` then checks that they do."""
        return False

    def path_name(self) -> str:
        """Name of the code path of the current mode (subclasses with several paths override)."""
        return "train" if self.training else "eval"

    def inference_path(self) -> str:
        """Which code path ``forward`` takes now (recorded with every measurement)."""
        return self.path_name() + ("-inplace" if self.writes_in_place() else "")

    def variant(self) -> str:
        """Where the paper and its reference code differ: which choices this instance uses
        (recorded in every result row). "paper" unless a model says otherwise."""
        return "paper"

    def _like(self, device, dtype) -> dict[str, Any]:
        """Device and dtype for new state tensors: as asked, else those of the parameters."""
        p = next(self.parameters())
        return {"device": device or p.device, "dtype": dtype or p.dtype}


def config_variant(config: ModelConfig, names: tuple[str, ...], other_names: tuple[str, ...] = ()) -> str:
    """"paper", or "code:" and those options among ``names`` (where a reference implementation departs
    from its paper) that differ from the config's defaults. Options among ``other_names`` (neither the
    paper's nor the reference code's behaviour) that are changed follow after " + not-code:"."""
    defaults = type(config)()

    def changed(options):
        return [f"{n}={getattr(config, n)}" for n in options if getattr(config, n) != getattr(defaults, n)]

    code, other = changed(names), changed(other_names)
    label = "code:" + ",".join(code) if code else "paper"
    return label + " + not-code:" + ",".join(other) if other else label


@contextlib.contextmanager
def recording_memory(model: RecurrentModel) -> Iterator[list[dict[str, torch.Tensor]]]:
    """Within the block, ``model`` appends each step's memory addressing (detached) to the list it
    yields (``RecurrentModel.memory_trace``); an empty list for a model without the hook."""
    trace: list[dict[str, torch.Tensor]] = []
    model.memory_trace = trace
    try:
        yield trace
    finally:
        del model.memory_trace  # back to the class's None


def detach_state(state: State) -> State:
    """Cut the gradient through every tensor of a state (truncated BPTT)."""
    return {k: v.detach() for k, v in state.items()}


# --- registry ----------------------------------------------------------------------------------
MODEL_REGISTRY = Registry("model")
register_model = MODEL_REGISTRY.register  # class decorator: @register_model("armin")
build_model = MODEL_REGISTRY.build  # build_model("armin", input_size=10, ...)
