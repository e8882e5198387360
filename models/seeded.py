"""Vectorized seeds: S copies of one model (one per seed) as a single model whose parameters carry a
leading seed dimension, so that the S seeds train as one computation (bench/training/group.py).

Layout: the batch axis of every tensor the model computes carries seeds x batch, seed-major: rows
s*B .. s*B + B - 1 belong to seed s. A per-seed layer views its input as (S, rows of one seed, ...)
and applies seed s's weights to seed s's rows (torch.bmm), so the seeds never mix:

    models = [one model per seed, each built after torch.manual_seed(seed)]
    vmodel = vectorize(models)              # every parameter (S, *shape); slice [s] is models[s]'s
    logits, _ = vmodel(x)                   # x (T, S*B, I) -> (T, S*B, O), the model's own forward
    loss.backward(); flush_weight_gradients(vmodel)   # weight gradients, once per sequence
    unstack_into(vmodel, models)            # seed s's weights back into models[s]

What is converted, with no per-model code:
- ``nn.Linear``, ``nn.LSTMCell``, ``nn.LayerNorm``: the per-seed layers below.
- a parameter a model's own module holds directly (learned initial states, TARDIS's cell addresses):
  a ``SeedStacked`` value, on which a few operations (elementwise maps, ``expand`` over the batch,
  sums and products with batch-leading tensors, matmul, a per-seed linear map) treat slice [s] as
  the value for seed s's rows. Any other operation raises ``NotVectorizable``.
A model declares that it may be vectorized (``supports_vectorized_seeds = True``: its batch rows are
independent and it computes through ``RecurrentModel.forward``); others run seeds one by one.

Weight gradients: a linear map used at every time step gets, in plain autograd, a (S, out, in)
weight gradient computed and accumulated at every step: memory traffic that grows with seeds x
parameters x steps. Here the backward of a step returns only the input gradient (the recurrence needs
it at once) and keeps the step's input and output gradient; ``flush_weight_gradients`` then computes
each weight's gradient once per sequence, one bmm over all steps, as fused RNN kernels do.

With S = 1 every layer and ``SeedStacked`` operation runs the ordinary operation on slice [0], so a
one-seed vectorized model computes exactly what the ordinary model computes.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from models.base import RecurrentModel
from models.layers import Linear


class NotVectorizable(ValueError):
    """The model cannot be trained as stacked seeds; run its seeds one by one."""


def supports_vectorized_seeds(model_class: type) -> bool:
    """What a model declares, checked against what the conversion needs."""
    declared = bool(getattr(model_class, "supports_vectorized_seeds", False))
    return declared and model_class.forward is RecurrentModel.forward


def _seed_view(x: torch.Tensor, seeds: int) -> torch.Tensor:
    """(S*B, ..., n) or (S, ..., n) -> (S, rows of one seed, n): the rows of each seed together."""
    if x.shape[0] % seeds:
        raise NotVectorizable(f"a batch of {x.shape[0]} rows is not seed-major over {seeds} seeds")
    return x.reshape(seeds, -1, x.shape[-1])


# --- per-seed linear map with the weight gradient computed once per sequence -------------------------
Pending = list[tuple[torch.Tensor, torch.Tensor]]  # (x, dy) of each use since the last flush


class _PerSeedLinear(torch.autograd.Function):
    """y = sum_k x_k W_k^T + b in each seed's rows: x_k (S*B, ..., in_k) seed-major, W_k (S, out, in_k),
    b (S, out) or None -> (S*B, ..., out). The forward multiplies by ``transposed`` copies (S, in_k,
    out) of the weights: a row times a contiguous matrix is the fast layout, forward and backward.
    Backward returns the input gradients now (the recurrence needs them) and appends (x_k, dy) to
    ``pendings[k]``: the weight and bias gradients wait for ``flush_linear``. One autograd node for all
    terms: an LSTM cell's two maps cost one."""

    @staticmethod
    def forward(ctx, bias, pendings, transposed, *xs_and_weights):
        xs, weights = xs_and_weights[0::2], xs_and_weights[1::2]
        seeds, out = weights[0].shape[:2]
        x3 = [x.reshape(seeds, -1, x.shape[-1]) for x in xs]  # (S, R, in_k)
        y = None if bias is None else bias.unsqueeze(1)
        for x, w_t in zip(x3, transposed):
            y = torch.bmm(x, w_t) if y is None else torch.baddbmm(y, x, w_t)
        ctx.save_for_backward(*x3, *weights)
        ctx.pendings, ctx.shapes = pendings, [x.shape for x in xs]
        return y.view(*xs[0].shape[:-1], out)

    @staticmethod
    def backward(ctx, grad):
        saved = ctx.saved_tensors
        x3, weights = saved[: len(saved) // 2], saved[len(saved) // 2 :]
        dy = grad.reshape(weights[0].shape[0], -1, weights[0].shape[1])  # (S, R, out)
        grads = []
        for k, (x, w, pending) in enumerate(zip(x3, weights, ctx.pendings)):
            pending.append((x, dy))
            grads += [torch.bmm(dy, w).view(ctx.shapes[k]) if ctx.needs_input_grad[3 + 2 * k] else None, None]
        return None, None, None, *grads


def transposed(weight: torch.Tensor, cache: dict) -> torch.Tensor:
    """(S, out, in) -> a contiguous (S, in, out) copy, made again after each in-place update of the
    weight (the optimiser step), found by the weight's version counter (a write through ``.data``
    does not count: update the parameter itself, under ``torch.no_grad()``)."""
    if cache.get("version") != weight._version:
        cache.update(version=weight._version, value=weight.detach().transpose(1, 2).contiguous())
    return cache["value"]


def per_seed_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pending: Pending,
                    cache: dict) -> torch.Tensor:
    """Seed s's affine map on seed s's rows: x (S*B, ..., in) seed-major, weight (S, out, in) ->
    (S*B, ..., out). ``cache`` keeps the weight's transposed copy between calls."""
    if x.shape[0] % weight.shape[0]:
        raise NotVectorizable(f"a batch of {x.shape[0]} rows is not seed-major over {weight.shape[0]} seeds")
    return _PerSeedLinear.apply(bias, [pending], [transposed(weight, cache)], x, weight)


def flush_linear(pending: Pending, weight: nn.Parameter, bias: nn.Parameter | None) -> None:
    """Add the weight and bias gradients of every use since the last flush: one bmm over all steps."""
    if not pending:
        return
    x = torch.cat([x for x, _ in pending], dim=1)  # (S, all rows, in)
    dy = torch.cat([dy for _, dy in pending], dim=1)  # (S, all rows, out)
    pending.clear()
    _accumulate(weight, torch.bmm(dy.transpose(1, 2), x))
    if bias is not None and bias.requires_grad:  # a frozen bias (e.g. a reference-init LSTM's bias_hh) gets none
        _accumulate(bias, dy.sum(dim=1))


def _accumulate(param: nn.Parameter, grad: torch.Tensor) -> None:
    if param.grad is None:
        param.grad = grad
    else:
        param.grad += grad


def _stack(tensors: list[torch.Tensor | None]) -> nn.Parameter | None:
    if tensors[0] is None:
        return None
    return nn.Parameter(torch.stack([t.detach() for t in tensors]), requires_grad=tensors[0].requires_grad)


class SeededLinear(nn.Module):
    """``nn.Linear`` with one weight per seed: weight (S, out, in), bias (S, out). Input rows are
    seed-major along ``batch_dim``: 0 in a cell; the output layer, which ``RecurrentModel.forward``
    applies to the stacked features (T, B, F), gets 1."""

    def __init__(self, peers: list[nn.Linear]):
        super().__init__()
        self.seeds = len(peers)
        self.weight = _stack([p.weight for p in peers])
        self.bias = _stack([p.bias for p in peers])
        self.batch_dim = 0
        self.pending: Pending = []
        self.transposed: dict = {}  # the weight's transposed copy for the forward

    def forward(self, x):
        if isinstance(x, SeedStacked):  # a per-seed parameter through a per-seed map
            if self.seeds == 1:
                return self(x.data[0])
            return SeedStacked(per_seed_linear(x.data, self.weight, self.bias, self.pending, self.transposed))
        if self.seeds == 1:
            return F.linear(x, self.weight[0], None if self.bias is None else self.bias[0])
        if self.batch_dim == 0:
            return per_seed_linear(x, self.weight, self.bias, self.pending, self.transposed)
        y = per_seed_linear(x.movedim(self.batch_dim, 0), self.weight, self.bias, self.pending, self.transposed)
        return y.movedim(0, self.batch_dim)

    def flush(self) -> None:
        flush_linear(self.pending, self.weight, self.bias)


class SeededLSTMCell(nn.Module):
    """``nn.LSTMCell`` with one set of weights per seed (torch's names and gate order i, f, g, o)."""

    def __init__(self, peers: list[nn.LSTMCell]):
        super().__init__()
        self.seeds = len(peers)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(self, name, _stack([getattr(p, name) for p in peers]))
        self.pending_ih: Pending = []
        self.pending_hh: Pending = []
        self.transposed_ih: dict = {}
        self.transposed_hh: dict = {}

    def forward(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = hx  # (S*B, H)
        if self.seeds == 1:
            return torch._VF.lstm_cell(x, hx, self.weight_ih[0], self.weight_hh[0], self.bias_ih[0], self.bias_hh[0])
        bias = self.bias_ih.detach() + self.bias_hh.detach()  # their gradients come from flush()
        forward_weights = [transposed(self.weight_ih, self.transposed_ih),
                           transposed(self.weight_hh, self.transposed_hh)]
        gates = _PerSeedLinear.apply(bias, [self.pending_ih, self.pending_hh], forward_weights,
                                     x, self.weight_ih, h, self.weight_hh)  # (S*B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def flush(self) -> None:
        flush_linear(self.pending_ih, self.weight_ih, self.bias_ih)
        flush_linear(self.pending_hh, self.weight_hh, self.bias_hh)  # the same dy: both biases get it


class SeededLayerNorm(nn.Module):
    """``nn.LayerNorm`` over the last axis with one gain and bias per seed: (S, n) each."""

    def __init__(self, peers: list[nn.LayerNorm]):
        super().__init__()
        if len(peers[0].normalized_shape) != 1 or peers[0].weight is None:
            raise NotVectorizable("layer norm other than over the last axis with gain and bias")
        self.seeds, self.normalized_shape, self.eps = len(peers), peers[0].normalized_shape, peers[0].eps
        self.weight = _stack([p.weight for p in peers])
        self.bias = _stack([p.bias for p in peers])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.seeds == 1:
            return F.layer_norm(x, self.normalized_shape, self.weight[0], self.bias[0], self.eps)
        y = _seed_view(F.layer_norm(x, self.normalized_shape, eps=self.eps), self.seeds)  # (S, R, n)
        return (y * self.weight.unsqueeze(1) + self.bias.unsqueeze(1)).reshape(x.shape)


SEEDED_LAYERS: dict[type, Callable[[list], nn.Module]] = {
    nn.Linear: SeededLinear,
    Linear: SeededLinear,  # models/layers.py's nn.Linear for maps applied at every step
    nn.LSTMCell: SeededLSTMCell,
    nn.LayerNorm: SeededLayerNorm,
}


# --- parameters a model's module holds directly -----------------------------------------------------
_ELEMENTWISE = {"to", "clone", "contiguous", "detach", "float", "double", "tanh", "sigmoid", "exp", "log",
                "neg", "__neg__", "relu", "softplus", "abs"}
_WITH_BATCH = {"add", "sub", "mul", "div", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
               "__truediv__", "__rtruediv__"}
_MATMUL = {"matmul", "__matmul__"}


class SeedStacked:
    """A parameter with one slice per seed, ``data`` (S, *shape), as the model's code sees it: seed
    s's slice stands for the value in seed s's rows. Supported: elementwise maps (and ``.to``),
    ``expand(rows, *shape)`` (each seed's value repeated over its rows), elementwise arithmetic and
    matmul with a batch-leading tensor, and a per-seed linear map (``SeededLinear``). With one seed,
    every operation is the ordinary one on slice [0]."""

    def __init__(self, data: torch.Tensor):
        self.data = data

    @property
    def seeds(self) -> int:
        return self.data.shape[0]

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        stacked = [a for a in args if isinstance(a, SeedStacked)]
        if stacked[0].seeds == 1:
            plain = [a.data[0] if isinstance(a, SeedStacked) else a for a in args]
            return func(*plain, **kwargs)
        name = getattr(func, "__name__", str(func))
        first = args[0]
        if name in _ELEMENTWISE and isinstance(first, SeedStacked) and len(stacked) == 1:
            return SeedStacked(func(first.data, *args[1:], **kwargs))
        if len(stacked) == 1 and len(args) == 2 and not kwargs:
            other = args[1] if isinstance(first, SeedStacked) else first
            if not isinstance(other, torch.Tensor) or other.dim() == 0:  # a scalar: elementwise
                if name in _WITH_BATCH:
                    plain = [a.data if isinstance(a, SeedStacked) else a for a in args]
                    return SeedStacked(func(*plain))
            elif name in _WITH_BATCH:
                rows = stacked[0].rows_like(other)
                return func(*[rows if isinstance(a, SeedStacked) else a for a in args])
            elif name in _MATMUL and isinstance(args[1], SeedStacked):
                return _matmul_per_seed(first, args[1].data)
        raise NotVectorizable(f"per-seed parameter: {name} is not supported (the model runs seeds one by one)")

    def rows_like(self, batch: torch.Tensor) -> torch.Tensor:
        """Each seed's value repeated over its rows of ``batch`` (S*B, ...), with singleton axes so
        that it lines up with ``batch`` as the unbatched value did: (S*B, 1.., *shape)."""
        shape = self.data.shape[1:]
        if batch.dim() < 1 + len(shape):
            raise NotVectorizable(f"per-seed parameter of shape {tuple(shape)} against a tensor "
                                  f"of shape {tuple(batch.shape)}")
        rows = self.expand(batch.shape[0], *shape)  # (S*B, *shape)
        return rows.reshape(batch.shape[0], *([1] * (batch.dim() - 1 - len(shape))), *shape)

    def expand(self, rows: int, *sizes: int) -> torch.Tensor:
        """``value.expand(rows, *sizes)`` of the ordinary model: each seed's value over its rows."""
        if self.seeds == 1:
            return self.data[0].expand(rows, *sizes)
        if rows % self.seeds or len(sizes) != self.data.dim() - 1:
            raise NotVectorizable(f"expand({rows}, {sizes}) of a per-seed parameter over {self.seeds} seeds")
        return self.data.unsqueeze(1).expand(self.seeds, rows // self.seeds, *sizes).flatten(0, 1)

    # the tensor methods and operators models call on parameters, through ``__torch_function__``
    def to(self, *args, **kwargs):
        return SeedStacked.__torch_function__(torch.Tensor.to, (), (self, *args), kwargs)

    def clone(self):
        return torch.clone(self)

    def __add__(self, other):
        return torch.add(self, other)

    def __radd__(self, other):
        return torch.add(other, self)

    def __sub__(self, other):
        return torch.sub(self, other)

    def __rsub__(self, other):
        return torch.sub(other, self)

    def __mul__(self, other):
        return torch.mul(self, other)

    def __rmul__(self, other):
        return torch.mul(other, self)

    def __neg__(self):
        return torch.neg(self)


def _matmul_per_seed(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """x @ w_s in each seed's rows: x (S*B, ..., k), weights (S, k) or (S, k, m)."""
    seeds = weights.shape[0]
    vector = weights.dim() == 2
    y = torch.bmm(_seed_view(x, seeds), weights.unsqueeze(-1) if vector else weights)  # (S, R, 1 or m)
    return y.reshape(*x.shape[:-1]) if vector else y.reshape(*x.shape[:-1], weights.shape[-1])


# --- conversion ------------------------------------------------------------------------------------
def vectorize(models: list[RecurrentModel]) -> RecurrentModel:
    """One model computing all of ``models`` (same class and options, one per seed) at once."""
    model_class = type(models[0])
    if not supports_vectorized_seeds(model_class):
        raise NotVectorizable(f"{model_class.__name__} does not declare vectorized seeds")
    if any(type(m) is not model_class for m in models):
        raise NotVectorizable("vectorized seeds need one model class")
    vmodel = copy.deepcopy(models[0])
    _convert(vmodel, models)
    vmodel.readout.batch_dim = 1  # RecurrentModel.forward applies it to the stacked (T, B, F) features
    return vmodel


def _convert(module: nn.Module, peers: list[nn.Module]) -> None:
    """In ``module`` (a copy of peers[0]), replace every layer by its per-seed version built from the
    same layer of every peer, and every parameter the module holds itself by its per-seed stack."""
    for name, child in list(module.named_children()):
        peer_children = [p._modules[name] for p in peers]
        if type(child) in SEEDED_LAYERS:
            setattr(module, name, SEEDED_LAYERS[type(child)](peer_children))
        elif type(child).__module__.startswith("torch.nn") and any(p is not None for p in child._parameters.values()):
            raise NotVectorizable(f"no per-seed version of {type(child).__name__}")
        else:
            _convert(child, peer_children)
    for name, param in list(module._parameters.items()):
        if param is None:
            continue
        values = torch.stack([p._parameters[name].detach() for p in peers])
        stacked = nn.Parameter(values, requires_grad=param.requires_grad)
        module._parameters[name] = stacked
        object.__setattr__(module, name, SeedStacked(stacked))  # what the module's code reads


@torch.no_grad()
def unstack_into(vmodel: nn.Module, models: list[nn.Module] | dict[int, nn.Module]) -> None:
    """Copy seed s's slice of every parameter of ``vmodel`` into ``models[s]`` (same names); a dict
    gives only some seeds their models."""
    stacked = dict(vmodel.named_parameters())
    for s, model in models.items() if isinstance(models, dict) else enumerate(models):
        for name, param in model.named_parameters():
            param.copy_(stacked[name][s])


def flush_weight_gradients(vmodel: nn.Module) -> None:
    """After ``backward``: add the weight gradients of every per-seed linear map (once per sequence)."""
    for module in vmodel.modules():
        if isinstance(module, (SeededLinear, SeededLSTMCell)):
            module.flush()
