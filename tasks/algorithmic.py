"""The NTM algorithmic tasks: copy, repeat copy, associative recall, priority sort, dynamic N-grams.

Graves, Wayne & Danihelka, "Neural Turing Machines", arXiv:1410.5401 (2014), section 4; the first four
are the ARMIN paper's section 4.1 tasks (Li et al., arXiv:1906.12087, 2019), with the widths of the
ARMIN authors' code: 8-bit vectors, inputs of copy / repeat copy / recall 8+2, priority sort 8+1.

Every sequence is a presentation phase followed by an answer phase. During the answer phase the input
is all zeros and the loss counts (mask 1); elsewhere the targets are zeros and the mask is 0. All
sequences of one batch share the sampled length (one draw per batch), so nothing is padded:

  copy          [start] x_1 .. x_L [end]            | x_1 .. x_L
  repeat copy   [start] x_1 .. x_L [R / R_max]      | (x_1 .. x_L) * R, [end]
  recall        ([delim] item_1) .. ([delim] item_n) [query] item_q [query] | item_{q+1}
  priority sort (x_1, p_1) .. (x_N, p_N)            | the K x_i of highest p_i, p descending
  n-grams       b_1 .. b_T -> b_2 .. b_{T+1}        (every step predicts the next bit)

All randomness comes from the ``generator`` argument: the same seed gives the same batch.

The ARMIN authors' data (github.com/zoharli/armin 9bf8e45, algorithimic_tasks/: train.py builds each
task from ntm/tasks/*.json and args.py; torch.randint excludes its high end) differs from the NTM
paper's ranges; the task presets ending in ``-code`` (benchmarks.yaml) reproduce it:
  copy-code                8 bits, L in 1..49 (copy.json:7-9, args.py:36 max_seq_len 50 set by
                           train.py:35; copy.py:35-36)
  repeat_copy-code         8 bits, L in 1..9 and R in 1..9 (repeatcopy.json:7-11; repeatcopy.py:48-51),
                           R fed as (R - 4.5) / 2.872 (``repeat_input="code"``, repeatcopy.py:35-39, 59)
  associative_recall-code  6 bits (associative.json:7), items of 3 vectors, 2..5 items (train.py:49-51,
                           args.py:41-43: min 2, max 6; associative.py:37-38), the query any item but
                           the last (associative.py:55-57), items not forced distinct (47-50)
  priority_sort-code       targets sorted per channel (prioritysort.py:51-52, ``target_order``)
The layouts (flags, answer phases) are those above in every preset (copy.py:41-47, repeatcopy.py:56-64,
associative.py:45-72).

Generalisation (NTM paper, figures 4 and 7): ``generalization_settings(scale)`` gives tasks that make
only instances ``scale`` times the training maximum in the size that tests it (copy: length; repeat
copy: length, and separately the number of repeats; recall: items; priority sort: inputs), with the
training encoding unchanged (repeat copy keeps dividing R by the training max_repeats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from tasks.base import Batch, Task, TaskConfig, register_task


# ---------------------------------------------------------------------------------------------------
# Shared helpers


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_range(task: str, name: str, low: int, high: int, minimum: int) -> None:
    """``minimum <= low <= high`` for a ``min_<name>`` / ``max_<name>`` pair of options."""
    _require(low >= minimum, f"{task}: min_{name} must be >= {minimum}, got {low}")
    _require(high >= low, f"{task}: max_{name} ({high}) must be >= min_{name} ({low})")


def _randint(low: int, high: int, generator: torch.Generator) -> int:
    """One integer drawn uniformly from [low, high] (both included)."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _random_bits(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Independent fair coin flips as floats 0/1."""
    return torch.randint(0, 2, shape, generator=generator).float()


def _answer_batch(presentation: torch.Tensor, answer: torch.Tensor) -> Batch:
    """Join a presentation phase (Tp, B, I) and the answer-phase targets (Ta, B, O): zero inputs and
    mask 1 over the answer phase, zero targets and mask 0 over the presentation."""
    t_p, batch_size, input_size = presentation.shape
    t_a, _, output_size = answer.shape
    inputs = torch.cat([presentation, presentation.new_zeros(t_a, batch_size, input_size)])  # (T, B, I)
    targets = torch.cat([answer.new_zeros(t_p, batch_size, output_size), answer])  # (T, B, O)
    mask = torch.cat([torch.zeros(t_p, batch_size), torch.ones(t_a, batch_size)])  # (T, B)
    return Batch(inputs, targets, mask)


@dataclass(frozen=True)
class GeneralizationSetting:
    """Instances beyond the training distribution: ``task`` makes only instances with ``parameter`` =
    ``value``, ``scale`` times its training maximum."""

    parameter: str  # which size grew: "length", "repeats", "items", "inputs"
    value: int  # its value in these instances
    scale: float  # value / the training maximum
    task: Task

    @property
    def name(self) -> str:
        return f"{self.parameter}={self.value}"


def _scaled(maximum: int, scale: float) -> int:
    return max(1, round(maximum * scale))


class _BitTask(Task):
    """The common shape of the bit-vector tasks: ``bits`` data channels followed by ``extra_inputs``
    input / ``extra_outputs`` output flag channels. Where sizes vary, ``sample`` draws them once per
    batch and ``make`` builds the batch for given sizes (``max_batch`` passes the largest)."""

    extra_inputs: int = 0
    extra_outputs: int = 0

    @property
    def input_size(self) -> int:
        return self.config.bits + self.extra_inputs

    @property
    def output_size(self) -> int:
        return self.config.bits + self.extra_outputs


# ---------------------------------------------------------------------------------------------------
# Copy (NTM section 4.1)


@dataclass
class CopyConfig(TaskConfig):
    bits: int = 8  # width of each vector (the ARMIN paper's text says 6; its code and Table 1 use 8)
    min_length: int = 1  # L is drawn uniformly from [min_length, max_length] once per batch
    max_length: int = 50

    def validate(self) -> None:
        _require(self.bits >= 1, f"copy: bits must be >= 1, got {self.bits}")
        _check_range("copy", "length", self.min_length, self.max_length, minimum=1)


@register_task("copy")
class CopyTask(_BitTask):
    """Input: a start flag (channel ``bits``), L random vectors, an end delimiter (channel ``bits + 1``);
    then L zero steps whose targets are the L vectors in order."""

    config_class = CopyConfig
    extra_inputs = 2  # start flag, end delimiter

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        length = _randint(self.config.min_length, self.config.max_length, generator)
        return self.make(batch_size, length, generator)

    def max_batch(self, batch_size: int) -> Batch:
        return self.make(batch_size, self.config.max_length, torch.Generator().manual_seed(0))

    def generalization_settings(self, scale: float) -> list[GeneralizationSetting]:
        """Copies of exactly ``scale`` x max_length vectors."""
        length = _scaled(self.config.max_length, scale)
        fixed = CopyTask(replace(self.config, min_length=length, max_length=length))
        return [GeneralizationSetting("length", length, scale, fixed)]

    def make(self, batch_size: int, length: int, generator: torch.Generator) -> Batch:
        bits = self.config.bits
        start, end = bits, bits + 1  # flag channels
        x = _random_bits((length, batch_size, bits), generator)  # (L, B, bits)
        presentation = torch.zeros(length + 2, batch_size, self.input_size)  # (L+2, B, I)
        presentation[0, :, start] = 1.0
        presentation[1 : length + 1, :, :bits] = x
        presentation[length + 1, :, end] = 1.0
        return _answer_batch(presentation, x)


# ---------------------------------------------------------------------------------------------------
# Repeat copy (NTM section 4.2)


REPEAT_INPUTS = ("ratio", "code")


@dataclass
class RepeatCopyConfig(TaskConfig):
    bits: int = 8  # width of each vector
    min_length: int = 1  # L drawn uniformly from [min_length, max_length] once per batch
    max_length: int = 10
    min_repeats: int = 1  # R drawn uniformly from [min_repeats, max_repeats] once per batch
    max_repeats: int = 10  # also the normaliser of the repeat-count input (R / max_repeats) ...
    repeat_normaliser: int = 0  # ... unless this is set: R / repeat_normaliser (generalisation keeps the training one)
    # how R is fed: "ratio" R / max_repeats; "code": standardised as the ARMIN authors' data does it
    # (``repeat_count_input``); the encoding's range is the training one (generalisation keeps it)
    repeat_input: str = "ratio"
    repeat_encoding_min: int = 0  # the min_repeats the "code" encoding uses (0: min_repeats)

    def validate(self) -> None:
        _require(self.bits >= 1, f"repeat_copy: bits must be >= 1, got {self.bits}")
        _check_range("repeat_copy", "length", self.min_length, self.max_length, minimum=1)
        _check_range("repeat_copy", "repeats", self.min_repeats, self.max_repeats, minimum=1)
        _require(self.repeat_normaliser >= 0, f"repeat_copy: repeat_normaliser must be >= 0, got {self.repeat_normaliser}")
        _require(self.repeat_input in REPEAT_INPUTS,
                 f"repeat_copy: repeat_input must be one of {', '.join(REPEAT_INPUTS)}, got {self.repeat_input!r}")
        _require(self.repeat_encoding_min >= 0,
                 f"repeat_copy: repeat_encoding_min must be >= 0, got {self.repeat_encoding_min}")

    @property
    def normaliser(self) -> int:
        return self.repeat_normaliser or self.max_repeats

    def repeat_count_input(self, repeats: int) -> float:
        """The value of the repeat-count channel for R repeats. "ratio": R / max_repeats. "code": the ARMIN
        authors' data (github.com/zoharli/armin 9bf8e45, algorithimic_tasks/ntm/datasets/repeatcopy.py:35-39,
        59) standardises R with the mean and variance it computes from its ``min_repeat`` and ``max_repeat``,
        whose high end torch.randint excludes (repeatcopy.py:50-51): with lo = min_repeats and
        hi = max_repeats + 1, (R - (hi - lo) / 2) / sqrt(((hi - lo + 1)^2 - 1) / 12); their 1 and 10 give
        (R - 4.5) / 2.872 (the mean is (hi - lo) / 2 as coded, not the draw's mean 5)."""
        if self.repeat_input == "ratio":
            return repeats / self.normaliser
        lo, hi = self.repeat_encoding_min or self.min_repeats, self.normaliser + 1
        return (repeats - (hi - lo) / 2) / math.sqrt(((hi - lo + 1) ** 2 - 1) / 12)


@register_task("repeat_copy")
class RepeatCopyTask(_BitTask):
    """Input: a start flag (channel ``bits``), L random vectors, one step carrying R / max_repeats
    (``repeat_input``) in channel ``bits + 1``; then L*R + 1 zero steps whose targets are the sequence R times followed by an
    end marker (output channel ``bits``) on the last step."""

    config_class = RepeatCopyConfig
    extra_inputs = 2  # start flag, repeat count
    extra_outputs = 1  # end marker

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        length = _randint(self.config.min_length, self.config.max_length, generator)
        repeats = _randint(self.config.min_repeats, self.config.max_repeats, generator)
        return self.make(batch_size, length, repeats, generator)

    def max_batch(self, batch_size: int) -> Batch:
        c = self.config
        return self.make(batch_size, c.max_length, c.max_repeats, torch.Generator().manual_seed(0))

    def generalization_settings(self, scale: float) -> list[GeneralizationSetting]:
        """Two settings: ``scale`` x max_length at max_repeats, and ``scale`` x max_repeats at max_length
        (the NTM paper's figure 7), the repeat-count input still divided by the training normaliser."""
        c = self.config
        length, repeats = _scaled(c.max_length, scale), _scaled(c.max_repeats, scale)

        def fixed(length: int, repeats: int) -> RepeatCopyTask:
            return RepeatCopyTask(replace(c, min_length=length, max_length=length, min_repeats=repeats,
                                          max_repeats=repeats, repeat_normaliser=c.normaliser,
                                          repeat_encoding_min=c.repeat_encoding_min or c.min_repeats))

        return [GeneralizationSetting("length", length, scale, fixed(length, c.max_repeats)),
                GeneralizationSetting("repeats", repeats, scale, fixed(c.max_length, repeats))]

    def make(self, batch_size: int, length: int, repeats: int, generator: torch.Generator) -> Batch:
        bits = self.config.bits
        start, count = bits, bits + 1  # input flag channels
        end = bits  # output channel of the end marker
        x = _random_bits((length, batch_size, bits), generator)  # (L, B, bits)
        presentation = torch.zeros(length + 2, batch_size, self.input_size)  # (L+2, B, I)
        presentation[0, :, start] = 1.0
        presentation[1 : length + 1, :, :bits] = x
        presentation[length + 1, :, count] = self.config.repeat_count_input(repeats)
        answer = torch.zeros(length * repeats + 1, batch_size, self.output_size)  # (L*R+1, B, O)
        answer[: length * repeats, :, :bits] = x.repeat(repeats, 1, 1)
        answer[length * repeats, :, end] = 1.0
        return _answer_batch(presentation, answer)


# ---------------------------------------------------------------------------------------------------
# Associative recall (NTM section 4.3)


@dataclass
class AssociativeRecallConfig(TaskConfig):
    bits: int = 8  # width of each vector
    item_length: int = 3  # vectors per item
    min_items: int = 2  # n drawn uniformly from [min_items, max_items] once per batch
    max_items: int = 6
    # True: the items of a sequence all differ (redrawn until they do). False: drawn independently, as
    # the ARMIN authors' data (algorithimic_tasks/ntm/datasets/associative.py:47-50: each item its own
    # seq.sample()), where two equal items make the query ambiguous
    distinct_items: bool = True

    def validate(self) -> None:
        _require(self.bits >= 1, f"associative_recall: bits must be >= 1, got {self.bits}")
        _require(self.item_length >= 1, f"associative_recall: item_length must be >= 1, got {self.item_length}")
        _check_range("associative_recall", "items", self.min_items, self.max_items, minimum=2)
        distinct_items = 2 ** (self.bits * self.item_length)
        _require(
            not self.distinct_items or distinct_items >= self.max_items,
            f"associative_recall: {self.bits} bits x {self.item_length} vectors make only {distinct_items} "
            f"distinct items, fewer than max_items={self.max_items}",
        )


@register_task("associative_recall")
class AssociativeRecallTask(_BitTask):
    """Input: n distinct items (``distinct_items``) of ``item_length`` vectors, each after a delimiter step (channel ``bits``);
    then a query delimiter (channel ``bits + 1``), a copy of item q (any but the last), a closing query
    delimiter; then ``item_length`` zero steps whose targets are item q + 1."""

    config_class = AssociativeRecallConfig
    extra_inputs = 2  # item delimiter, query delimiter

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        items = _randint(self.config.min_items, self.config.max_items, generator)
        return self.make(batch_size, items, generator)

    def max_batch(self, batch_size: int) -> Batch:
        return self.make(batch_size, self.config.max_items, torch.Generator().manual_seed(0))

    def generalization_settings(self, scale: float) -> list[GeneralizationSetting]:
        """Exactly ``scale`` x max_items items before the query."""
        items = max(_scaled(self.config.max_items, scale), 2)
        fixed = AssociativeRecallTask(replace(self.config, min_items=items, max_items=items))
        return [GeneralizationSetting("items", items, scale, fixed)]

    def distinct_items(self, batch_size: int, n: int, generator: torch.Generator) -> torch.Tensor:
        """(B, n, k * bits) random items, all different within each sequence: an item equal to an
        earlier one of its sequence is drawn again until none is (``distinct_items=False``: no redraw)."""
        size = self.config.item_length * self.config.bits
        items = _random_bits((batch_size, n, size), generator)  # (B, n, k*bits)
        if not self.config.distinct_items:
            return items
        earlier = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)  # (n, n): [i, j] = i < j
        while True:
            equal = (items.unsqueeze(2) == items.unsqueeze(1)).all(-1)  # (B, n, n)
            duplicate = (equal & earlier).any(1)  # (B, n): equals an earlier item
            if not duplicate.any():
                return items
            items[duplicate] = _random_bits((int(duplicate.sum()), size), generator)

    def make(self, batch_size: int, n: int, generator: torch.Generator) -> Batch:
        bits, k = self.config.bits, self.config.item_length
        delimiter, query = bits, bits + 1  # flag channels
        items = self.distinct_items(batch_size, n, generator).view(batch_size, n, k, bits)  # (B, n, k, bits)
        q = torch.randint(0, n - 1, (batch_size,), generator=generator)  # (B,) the query: any item but the last
        b = torch.arange(batch_size)
        # each item is a delimiter step then its k vectors
        item_steps = torch.zeros(n, k + 1, batch_size, self.input_size)  # (n, k+1, B, I)
        item_steps[:, 0, :, delimiter] = 1.0
        item_steps[:, 1:, :, :bits] = items.permute(1, 2, 0, 3)
        # the query: delimiter, item q, delimiter
        query_steps = torch.zeros(k + 2, batch_size, self.input_size)  # (k+2, B, I)
        query_steps[0, :, query] = 1.0
        query_steps[1 : k + 1, :, :bits] = items[b, q].transpose(0, 1)
        query_steps[k + 1, :, query] = 1.0
        presentation = torch.cat([item_steps.flatten(0, 1), query_steps])  # (n(k+1) + k+2, B, I)
        answer = items[b, q + 1].transpose(0, 1)  # (k, B, bits)
        return _answer_batch(presentation, answer)


# ---------------------------------------------------------------------------------------------------
# Priority sort (NTM section 4.5)

PRIORITY_LOW, PRIORITY_HIGH = -1.0, 1.0  # priorities are uniform on [-1, 1]


TARGET_ORDERS = ("priority", "per_channel")


@dataclass
class PrioritySortConfig(TaskConfig):
    bits: int = 8  # width of each vector
    num_inputs: int = 40  # N vectors presented, each with a priority
    num_outputs: int = 30  # K: the K vectors of highest priority are the answer
    # "priority": the K vectors in descending priority (NTM paper). "per_channel": what the reference
    # code the ARMIN authors trained on computes (vlgiitr/ntm-pytorch: torch.sort along time of the whole
    # input), every bit channel sorted on its own, ones first: the answer only counts the ones per channel
    target_order: str = "priority"

    def validate(self) -> None:
        _require(self.target_order in TARGET_ORDERS,
                 f"priority_sort: target_order must be one of {', '.join(TARGET_ORDERS)}, got {self.target_order!r}")
        _require(self.bits >= 1, f"priority_sort: bits must be >= 1, got {self.bits}")
        _require(self.num_inputs >= 1, f"priority_sort: num_inputs must be >= 1, got {self.num_inputs}")
        _require(
            1 <= self.num_outputs <= self.num_inputs,
            f"priority_sort: num_outputs must be in [1, num_inputs={self.num_inputs}], got {self.num_outputs}",
        )


@register_task("priority_sort")
class PrioritySortTask(_BitTask):
    """Input: N random vectors, each with a priority in channel ``bits`` drawn uniformly from [-1, 1];
    then K zero steps whose targets are the K vectors of highest priority, in descending priority.
    The sizes are fixed, so the default ``max_batch`` (a sampled batch) is already the longest."""

    config_class = PrioritySortConfig
    extra_inputs = 1  # priority

    def generalization_settings(self, scale: float) -> list[GeneralizationSetting]:
        """``scale`` x num_inputs inputs; the answer stays the num_outputs highest (the same length)."""
        inputs = max(_scaled(self.config.num_inputs, scale), self.config.num_outputs)
        fixed = PrioritySortTask(replace(self.config, num_inputs=inputs))
        return [GeneralizationSetting("inputs", inputs, scale, fixed)]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        bits, n, k = self.config.bits, self.config.num_inputs, self.config.num_outputs
        x = _random_bits((n, batch_size, bits), generator)  # (N, B, bits)
        p = torch.rand(n, batch_size, generator=generator) * (PRIORITY_HIGH - PRIORITY_LOW) + PRIORITY_LOW  # (N, B)
        presentation = torch.cat([x, p.unsqueeze(-1)], dim=-1)  # (N, B, I)
        if self.config.target_order == "per_channel":  # each column sorted by itself, descending
            answer = x.sort(dim=0, descending=True).values[:k]  # (K, B, bits)
        else:
            top = p.topk(k, dim=0, sorted=True).indices  # (K, B) highest priority first
            answer = x.gather(0, top.unsqueeze(-1).expand(k, batch_size, bits))  # (K, B, bits)
        return _answer_batch(presentation, answer)


# ---------------------------------------------------------------------------------------------------
# Dynamic N-grams (NTM section 4.4)

FAIR_COIN = 0.5  # probability of a 1 among the first N - 1 bits, which have no full context


def sample_beta_half(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Beta(1/2, 1/2) samples by inverting its CDF, F(p) = (2 / pi) arcsin(sqrt(p)):
    p = sin^2(pi u / 2) for u uniform on [0, 1). (torch.distributions.Beta takes no generator.)"""
    u = torch.rand(shape, generator=generator)
    return torch.sin(0.5 * math.pi * u) ** 2


@dataclass
class NGramConfig(TaskConfig):
    order: int = 6  # N: each bit depends on the N - 1 bits before it
    length: int = 200  # time steps T; each predicts the next bit

    def validate(self) -> None:
        _require(self.order >= 1, f"ngram: order must be >= 1, got {self.order}")
        _require(self.length >= 1, f"ngram: length must be >= 1, got {self.length}")


@register_task("ngram")
class NGramTask(Task):
    """Per sequence, a look-up table of 2^(N-1) probabilities drawn from Beta(1/2, 1/2); a bit sequence
    b_1 .. b_{T+1} whose first N - 1 bits are fair coin flips and where each later bit is 1 with the
    table's probability for the N - 1 bits before it. Input at step t is b_t, target b_{t+1}; the loss
    counts on every step. The length is fixed, so the default ``max_batch`` is already the longest."""

    config_class = NGramConfig

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 1

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        contexts = 2 ** (self.config.order - 1)
        table = sample_beta_half((batch_size, contexts), generator)  # (B, 2^(N-1))
        b = self.generate(table, generator)  # (T+1, B)
        inputs = b[:-1].unsqueeze(-1)  # (T, B, 1)
        targets = b[1:].unsqueeze(-1)  # (T, B, 1)
        return Batch(inputs, targets, torch.ones(self.config.length, batch_size))

    def generate(self, table: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(T+1, B) bits drawn from the (B, 2^(N-1)) probability tables. The context index is the
        previous N - 1 bits read as a binary number, the most recent bit least significant."""
        batch_size, contexts = table.shape
        steps, warmup = self.config.length + 1, self.config.order - 1
        u = torch.rand(steps, batch_size, generator=generator)  # (T+1, B)
        b = torch.zeros(steps, batch_size)  # (T+1, B)
        context = torch.zeros(batch_size, dtype=torch.long)  # (B,)
        fair = torch.full((batch_size,), FAIR_COIN)  # (B,)
        for t in range(steps):
            p = fair if t < warmup else table.gather(1, context.unsqueeze(1)).squeeze(1)  # (B,)
            bit = (u[t] < p).long()  # (B,)
            b[t] = bit
            context = (context * 2 + bit) % contexts
        return b
