"""Tests of the NTM algorithmic tasks (tasks/algorithmic.py): layouts, targets, seeding, validation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from bench.config import DEFAULT_CONFIG_PATH
from tasks import TASK_REGISTRY, build_task
from tasks.algorithmic import sample_beta_half

BENCHMARKS = DEFAULT_CONFIG_PATH
# (input, output) widths of the ARMIN authors' code (8-bit vectors)
AUTHORS_SIZES = {
    "copy": (10, 8),
    "repeat_copy": (10, 9),
    "associative_recall": (10, 8),
    "priority_sort": (9, 8),
    "ngram": (1, 1),
}
ALL_TASKS = sorted(AUTHORS_SIZES)
# presets whose widths differ from their class's above: the authors' recall data has 6-bit vectors
PRESET_SIZES = {"associative_recall-code": (8, 6)}


def preset_options() -> dict[str, tuple[str, dict]]:
    """The algorithmic task presets of benchmarks.yaml (the real-data ones need files; tested elsewhere)."""
    presets = yaml.safe_load(BENCHMARKS.read_text())["tasks"]
    out = {}
    for name, options in presets.items():
        options = dict(options)
        cls = options.pop("class")
        if cls in AUTHORS_SIZES:
            out[name] = (cls, options)
    return out


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def one_hot(width: int, channel: int) -> torch.Tensor:
    v = torch.zeros(width)
    v[channel] = 1.0
    return v


def mask_of(presentation: int, answer: int, batch_size: int) -> torch.Tensor:
    return torch.cat([torch.zeros(presentation, batch_size), torch.ones(answer, batch_size)])


# ---------------------------------------------------------------------------------------------------
# Presets and sizes


def test_yaml_presets_build_with_authors_sizes():
    presets = preset_options()
    assert presets, "benchmarks.yaml has no tasks"
    for name, (cls, options) in presets.items():
        task = build_task(cls, **options)
        assert (task.input_size, task.output_size) == PRESET_SIZES.get(name, AUTHORS_SIZES[cls]), name
        batch = task.sample(2, gen(0))
        assert batch.inputs.shape[1:] == (2, task.input_size)
        assert batch.targets.shape[1:] == (2, task.output_size)


def test_every_task_registered_and_default_sizes():
    for name in ALL_TASKS:
        assert name in TASK_REGISTRY
        task = build_task(name)  # dataclass defaults are the paper's settings
        assert (task.input_size, task.output_size) == AUTHORS_SIZES[name]


def test_ngram_defaults_match_ntm_paper():
    task = build_task("ngram")
    assert (task.config.order, task.config.length) == (6, 200)


@pytest.mark.parametrize("name", ALL_TASKS)
def test_batch_dtypes_shapes_and_binary_targets(name):
    task = build_task(name)
    batch = task.sample(3, gen(5))
    t = batch.inputs.shape[0]
    assert batch.inputs.dtype == batch.targets.dtype == batch.mask.dtype == torch.float32
    assert batch.targets.shape == (t, 3, task.output_size)
    assert batch.mask.shape == (t, 3)
    assert set(batch.targets.unique().tolist()) <= {0.0, 1.0}
    assert set(batch.mask.unique().tolist()) == {0.0, 1.0} or name == "ngram"
    # every sequence in the batch has the same answer phase
    assert torch.equal(batch.mask, batch.mask[:, :1].expand_as(batch.mask))


@pytest.mark.parametrize("name", ALL_TASKS)
def test_loss_with_zero_logits_is_ln2(name):
    task = build_task(name)
    batch = task.sample(2, gen(1))
    logits = torch.zeros(batch.targets.shape)
    assert task.loss(logits, batch).item() == pytest.approx(math.log(2), abs=1e-6)


# ---------------------------------------------------------------------------------------------------
# Copy


def test_copy_layout_and_targets():
    task = build_task("copy", bits=4, min_length=1, max_length=9)
    length, batch_size = 5, 3
    batch = task.make(batch_size, length, gen(0))
    x, y, m = batch
    assert x.shape == (2 * length + 2, batch_size, 6)
    assert y.shape == (2 * length + 2, batch_size, 4)
    start, end = one_hot(6, 4), one_hot(6, 5)
    for b in range(batch_size):
        assert torch.equal(x[0, b], start)
        assert torch.equal(x[length + 1, b], end)
    assert torch.all(x[1 : length + 1, :, 4:] == 0)  # no flags on the data steps
    data = x[1 : length + 1, :, :4]
    assert set(data.unique().tolist()) == {0.0, 1.0}
    assert torch.all(x[length + 2 :] == 0)  # answer-phase inputs are zero
    assert torch.equal(m, mask_of(length + 2, length, batch_size))
    assert torch.all(y[: length + 2] == 0)
    assert torch.equal(y[length + 2 :], data)  # the targets are the inputs, in order


def test_copy_sampled_lengths_cover_range():
    task = build_task("copy", bits=3, min_length=2, max_length=4)
    lengths = set()
    for seed in range(60):
        batch = task.sample(2, gen(seed))
        t = batch.inputs.shape[0]
        assert (t - 2) % 2 == 0
        length = (t - 2) // 2
        assert int(batch.mask[:, 0].sum()) == length
        lengths.add(length)
    assert lengths == {2, 3, 4}


# ---------------------------------------------------------------------------------------------------
# Repeat copy


def test_repeat_copy_layout_and_targets():
    task = build_task("repeat_copy", bits=4, min_length=1, max_length=5, min_repeats=1, max_repeats=8)
    length, repeats, batch_size = 3, 4, 2
    x, y, m = task.make(batch_size, length, repeats, gen(3))
    answer = length * repeats + 1
    assert x.shape == (length + 2 + answer, batch_size, 6)
    assert y.shape == (length + 2 + answer, batch_size, 5)
    assert torch.all(x[0] == one_hot(6, 4))
    assert torch.all(x[1 : length + 1, :, 4:] == 0)
    assert torch.all(x[length + 1] == 0.5 * one_hot(6, 5))  # 4 repeats / max 8
    assert torch.all(x[length + 2 :] == 0)
    assert torch.equal(m, mask_of(length + 2, answer, batch_size))
    data = x[1 : length + 1, :, :4]
    assert torch.all(y[: length + 2] == 0)
    start = length + 2
    for r in range(repeats):
        block = y[start + r * length : start + (r + 1) * length]
        assert torch.equal(block[..., :4], data)
        assert torch.all(block[..., 4] == 0)  # no end marker before the last step
    assert torch.all(y[-1] == one_hot(5, 4))  # end marker only, on the last step


def test_repeat_copy_sampled_count_matches_answer_length():
    task = build_task("repeat_copy", bits=2, min_length=1, max_length=3, min_repeats=2, max_repeats=3)
    seen = set()
    for seed in range(60):
        x, y, m = task.sample(1, gen(seed))
        repeats = round(x[:, 0, 3].max().item() * 3)
        presentation = int((m[:, 0] == 0).sum())
        length = presentation - 2
        assert int(m[:, 0].sum()) == length * repeats + 1
        seen.add((length, repeats))
    assert seen == {(l, r) for l in (1, 2, 3) for r in (2, 3)}


# ---------------------------------------------------------------------------------------------------
# Associative recall


def parse_recall(x: torch.Tensor, bits: int, k: int, n: int, b: int):
    """Items and query of sequence b of a recall batch, checking the flags on the way."""
    items = []
    for i in range(n):
        step = i * (k + 1)
        assert torch.equal(x[step, b], one_hot(bits + 2, bits))
        assert torch.all(x[step + 1 : step + k + 1, b, bits:] == 0)
        items.append(x[step + 1 : step + k + 1, b, :bits])
    q0 = n * (k + 1)
    assert torch.equal(x[q0, b], one_hot(bits + 2, bits + 1))
    assert torch.all(x[q0 + 1 : q0 + k + 1, b, bits:] == 0)
    assert torch.equal(x[q0 + k + 1, b], one_hot(bits + 2, bits + 1))
    return items, x[q0 + 1 : q0 + k + 1, b, :bits]


def test_associative_recall_layout_and_targets():
    bits, k, n, batch_size = 4, 3, 4, 16
    task = build_task("associative_recall", bits=bits, item_length=k, min_items=2, max_items=6)
    x, y, m = task.make(batch_size, n, gen(7))
    presentation = n * (k + 1) + k + 2
    assert x.shape == (presentation + k, batch_size, bits + 2)
    assert y.shape == (presentation + k, batch_size, bits)
    assert torch.all(x[presentation:] == 0)
    assert torch.equal(m, mask_of(presentation, k, batch_size))
    assert torch.all(y[:presentation] == 0)
    queried = set()
    for b in range(batch_size):
        items, query = parse_recall(x, bits, k, n, b)
        matches = [i for i, item in enumerate(items) if torch.equal(item, query)]
        assert len(matches) == 1  # items are distinct, so the query names one
        q = matches[0]
        assert q < n - 1  # never the last item
        assert torch.equal(y[presentation:, b], items[q + 1])
        queried.add(q)
    assert len(queried) > 1  # the query position varies across the batch


def test_associative_recall_items_distinct_when_space_is_tight():
    # 1 bit x 2 vectors: only 4 possible items, and 4 are needed
    task = build_task("associative_recall", bits=1, item_length=2, min_items=4, max_items=4)
    for seed in range(10):
        x, _, _ = task.sample(8, gen(seed))
        for b in range(8):
            items, _ = parse_recall(x, 1, 2, 4, b)
            assert len({tuple(item.flatten().tolist()) for item in items}) == 4


def test_associative_recall_sampled_item_counts():
    task = build_task("associative_recall", bits=3, item_length=2, min_items=2, max_items=4)
    counts = set()
    for seed in range(40):
        x, _, _ = task.sample(2, gen(seed))
        counts.add(int((x[:, 0, 3] == 1).sum()))  # one item delimiter per item
    assert counts == {2, 3, 4}


# ---------------------------------------------------------------------------------------------------
# The ARMIN authors' data: the -code presets (github.com/zoharli/armin 9bf8e45, cited in tasks/algorithmic.py)


def code_preset(name: str):
    cls, options = preset_options()[name]
    return build_task(cls, **options)


def test_copy_code_lengths_are_1_to_49():
    """copy.py:35-36 draws randint(1, 50), whose high end is excluded: lengths 1-49, 8 bits."""
    task = code_preset("copy-code")
    assert (task.input_size, task.output_size) == (10, 8)
    lengths = {int(task.sample(1, gen(seed)).mask.sum()) for seed in range(1500)}
    assert lengths == set(range(1, 50))


def test_repeat_copy_code_hand_made_sample():
    """repeatcopy.py:35-39 with min_repeat 1, max_repeat 10: mean (10 - 1) / 2 = 4.5, variance
    ((10 - 1 + 1)^2 - 1) / 12 = 8.25; for R = 3 the count channel holds (3 - 4.5) / sqrt(8.25)."""
    task = code_preset("repeat_copy-code")
    assert (task.input_size, task.output_size) == (10, 9)
    x, y, m = task.make(1, 2, 3, gen(0))  # L = 2, R = 3
    assert x.shape == (2 + 2 + 2 * 3 + 1, 1, 10)
    assert x[3, 0, 9].item() == pytest.approx(-1.5 / math.sqrt(8.25))  # -0.5222
    assert torch.all(x[3, 0, :9] == 0) and x[0, 0, 8] == 1.0
    assert torch.equal(y[4:10, 0, :8], x[1:3, 0, :8].repeat(3, 1)) and y[10, 0, 8] == 1.0
    assert task.config.repeat_count_input(1) == pytest.approx(-3.5 / 2.8722813)  # the extremes the data feeds
    assert task.config.repeat_count_input(9) == pytest.approx(4.5 / 2.8722813)


def test_repeat_copy_code_draws_lengths_and_repeats_1_to_9():
    task = code_preset("repeat_copy-code")
    seen = set()
    for seed in range(800):
        x, _, m = task.sample(1, gen(seed))
        length = int((m[:, 0] == 0).sum()) - 2
        value = x[length + 1, 0, 9].item()
        repeats = round(value * math.sqrt(8.25) + 4.5)
        assert int(m[:, 0].sum()) == length * repeats + 1
        seen.add((length, repeats))
    assert seen == {(l, r) for l in range(1, 10) for r in range(1, 10)}


def test_repeat_copy_code_generalisation_keeps_the_training_encoding():
    task = code_preset("repeat_copy-code")
    longer = {s.parameter: s.task for s in task.generalization_settings(2.0)}["repeats"]
    assert longer.config.min_repeats == longer.config.max_repeats == 18
    assert longer.config.repeat_count_input(3) == pytest.approx(task.config.repeat_count_input(3))


def test_associative_recall_code_six_bits_two_to_five_items_independent():
    """associative.json:7 seq_width 6; train.py:49-51 items 2 to randint's excluded 6; the query is any
    item but the last (associative.py:55-57); items drawn independently (47-50)."""
    task = code_preset("associative_recall-code")
    assert (task.input_size, task.output_size) == (8, 6)
    counts = set()
    for seed in range(200):
        x, y, m = task.sample(1, gen(seed))
        n = int((x[:, 0, 6] == 1).sum())
        counts.add(n)
        items, query = parse_recall(x, 6, 3, n, 0)
        q = next(i for i, item in enumerate(items) if torch.equal(item, query))
        assert q < n - 1
        assert torch.equal(y[m[:, 0] == 1, 0], items[q + 1])
    assert counts == {2, 3, 4, 5}


def test_associative_recall_items_may_repeat_when_not_forced_distinct():
    # 1 bit x 1 vector: 2 possible items; 4 independent items repeat
    task = build_task("associative_recall", bits=1, item_length=1, min_items=4, max_items=4, distinct_items=False)
    x, _, _ = task.sample(1, gen(0))
    items, _ = parse_recall(x, 1, 1, 4, 0)
    assert len({tuple(item.flatten().tolist()) for item in items}) < 4


# ---------------------------------------------------------------------------------------------------
# Priority sort


def test_priority_sort_layout_and_targets():
    bits, n, k, batch_size = 4, 10, 4, 5
    task = build_task("priority_sort", bits=bits, num_inputs=n, num_outputs=k)
    x, y, m = task.sample(batch_size, gen(11))
    assert x.shape == (n + k, batch_size, bits + 1)
    assert y.shape == (n + k, batch_size, bits)
    assert torch.all(x[n:] == 0)
    assert torch.equal(m, mask_of(n, k, batch_size))
    assert torch.all(y[:n] == 0)
    priorities = x[:n, :, bits]
    assert torch.all((priorities >= -1) & (priorities <= 1))
    assert priorities.min() < -0.5 and priorities.max() > 0.5  # spread over [-1, 1]
    for b in range(batch_size):
        ranked = sorted(range(n), key=lambda i: -priorities[i, b].item())  # by hand
        expected = torch.stack([x[i, b, :bits] for i in ranked[:k]])
        assert torch.equal(y[n:, b], expected)


def test_priority_sort_all_outputs_is_a_permutation_in_priority_order():
    task = build_task("priority_sort", bits=6, num_inputs=8, num_outputs=8)
    x, y, _ = task.sample(1, gen(2))
    p = x[:8, 0, 6]
    order = [next(i for i in range(8) if torch.equal(x[i, 0, :6], row)) for row in y[8:, 0]]
    assert sorted(order) == list(range(8))
    assert all(p[a] >= p[b] for a, b in zip(order, order[1:]))


def test_priority_sort_reference_code_variant_sorts_each_channel_alone():
    bits, n, k = 3, 6, 4
    task = build_task("priority_sort", bits=bits, num_inputs=n, num_outputs=k, target_order="per_channel")
    x, y, _ = task.sample(2, gen(5))
    for b in range(2):
        ones = x[:n, b, :bits].sum(0)  # ones per channel among the inputs
        for c in range(bits):  # by hand: the channel's ones first, then zeros, cut to K rows
            expected = torch.tensor([1.0] * int(ones[c]) + [0.0] * (n - int(ones[c])))[:k]
            assert torch.equal(y[n:, b, c], expected)
    with pytest.raises(ValueError, match="target_order must be one of priority, per_channel"):
        build_task("priority_sort", target_order="random")


# ---------------------------------------------------------------------------------------------------
# Dynamic N-grams


def test_ngram_target_is_next_input_bit():
    task = build_task("ngram", order=4, length=30)
    x, y, m = task.sample(6, gen(4))
    assert x.shape == y.shape == (30, 6, 1)
    assert torch.equal(m, torch.ones(30, 6))
    assert set(x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(y[:-1], x[1:])


def test_ngram_bits_follow_the_table():
    # order 3 with table[c] = parity(c): each bit is the xor of the two before it
    task = build_task("ngram", order=3, length=40)
    table = torch.tensor([[0.0, 1.0, 1.0, 0.0]]).expand(4, 4)
    b = task.generate(table, gen(9))
    assert b.shape == (41, 4)
    for t in range(2, 41):
        assert torch.equal(b[t], (b[t - 1] + b[t - 2]) % 2)
    # a table of ones makes every bit after the warm-up 1
    ones = task.generate(torch.ones(2, 4), gen(9))
    assert torch.all(ones[2:] == 1)


def test_beta_half_sampler_moments():
    p = sample_beta_half((200_000,), gen(0))
    assert torch.all((p >= 0) & (p <= 1))
    assert p.mean().item() == pytest.approx(0.5, abs=0.005)
    assert p.var().item() == pytest.approx(1 / 8, abs=0.003)  # Beta(1/2, 1/2) variance
    cdf = (2 / math.pi) * math.asin(math.sqrt(0.1))
    assert (p < 0.1).float().mean().item() == pytest.approx(cdf, abs=0.005)


# ---------------------------------------------------------------------------------------------------
# Seeding, max batch, validation


@pytest.mark.parametrize("name", ALL_TASKS)
def test_same_seed_same_batch_different_seed_different(name):
    task = build_task(name)
    a, b, c = task.sample(2, gen(42)), task.sample(2, gen(42)), task.sample(2, gen(43))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not (a.inputs.shape == c.inputs.shape and torch.equal(a.inputs, c.inputs))


MAX_STEPS = {
    "copy": 50 + 2 + 50,
    "repeat_copy": 10 + 2 + 10 * 10 + 1,
    "associative_recall": 6 * 4 + 3 + 2 + 3,
    "priority_sort": 40 + 30,
    "ngram": 200,
}


@pytest.mark.parametrize("name", ALL_TASKS)
def test_max_batch_is_longest(name):
    task = build_task(name)
    batch = task.max_batch(2)
    assert batch.inputs.shape == (MAX_STEPS[name], 2, task.input_size)
    assert max(task.sample(1, gen(s)).inputs.shape[0] for s in range(30)) <= MAX_STEPS[name]


@pytest.mark.parametrize(
    "name, options",
    [
        ("copy", {"bits": 0}),
        ("copy", {"min_length": 0}),
        ("copy", {"min_length": 5, "max_length": 4}),
        ("repeat_copy", {"bits": 0}),
        ("repeat_copy", {"min_length": 3, "max_length": 2}),
        ("repeat_copy", {"min_repeats": 0}),
        ("repeat_copy", {"min_repeats": 4, "max_repeats": 3}),
        ("repeat_copy", {"repeat_input": "log"}),
        ("associative_recall", {"bits": 0}),
        ("associative_recall", {"item_length": 0}),
        ("associative_recall", {"min_items": 1}),
        ("associative_recall", {"min_items": 4, "max_items": 3}),
        ("associative_recall", {"bits": 1, "item_length": 2, "min_items": 2, "max_items": 5}),
        ("priority_sort", {"bits": 0}),
        ("priority_sort", {"num_inputs": 0}),
        ("priority_sort", {"num_outputs": 0}),
        ("priority_sort", {"num_inputs": 5, "num_outputs": 6}),
        ("ngram", {"order": 0}),
        ("ngram", {"length": 0}),
    ],
)
def test_validate_rejects_bad_configs(name, options):
    with pytest.raises(ValueError):
        build_task(name, **options)


def test_validate_accepts_edge_configs():
    build_task("copy", min_length=3, max_length=3)
    build_task("associative_recall", bits=1, item_length=2, min_items=4, max_items=4)
    build_task("priority_sort", num_inputs=5, num_outputs=5)
    build_task("ngram", order=1, length=1)
