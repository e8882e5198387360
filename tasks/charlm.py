"""Character-level language modelling (ARMIN paper section 4.3, Tables 3 and 4).

Predict each next symbol of a text from all the previous ones: cross-entropy over the vocabulary at
every step; the metric is bits per character, BPC = (sum of -ln p(next symbol)) / ln 2 / (number of
predictions), over every predicted symbol of the split.

Input: the previous symbol one-hot over the vocabulary (the model's first linear map over it is the
embedding; no separate embedding layer). Datasets (tasks/data.py): ``ptb`` (Mikolov's character files,
with an end-of-line symbol per line: vocabulary 50 on the real files), ``enwik8`` (bytes; 90M/5M/5M
split; vocabulary 256), ``text`` (any file as bytes, split 90/5/5: smoke runs on a text that ships with
the system, e.g. /usr/share/common-licenses/GPL-3).

Truncated BPTT over contiguous streams: a split of N symbols gives N - 1 predictions, laid out as B
rows of consecutive symbols (row r continues where row r - 1 ends), cut into windows of
``tbptt_length`` steps; batch k + 1 continues each row exactly where batch k stopped, so the state
carried over between batches is the true history. Training drops the last (N - 1) mod B predictions;
evaluation appends them to the last row (other rows padded, mask 0) so that every prediction counts
exactly once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from tasks import data
from tasks._stream import StreamTask, check_split, masked_cross_entropy_sum
from tasks.base import Batch, TaskConfig, register_task

TEXT_DATASETS = ("ptb", "enwik8", "text")
SPLITS = data.SPLITS  # train, valid, test


@dataclass
class CharLMConfig(TaskConfig):
    dataset: str = "ptb"  # ptb | enwik8 | text
    tbptt_length: int = 150  # T_trunc: steps per training iteration (Table 3: 150; Table 4: 50, 100, 150)
    text_file: str = ""  # dataset "text": the file to read
    train_size: int = 0  # 0: the whole split; N: its first N symbols (demos, CI)
    valid_size: int = 0
    test_size: int = 0
    verify: bool = True  # check sizes and checksums against the published files (false for custom files)

    def validate(self) -> None:
        if self.dataset not in TEXT_DATASETS:
            raise ValueError(f"charlm: dataset must be one of {', '.join(TEXT_DATASETS)}, got {self.dataset!r}")
        if self.dataset == "text" and not self.text_file:
            raise ValueError("charlm: dataset 'text' needs text_file (e.g. /usr/share/common-licenses/GPL-3)")
        if self.tbptt_length < 1:
            raise ValueError(f"charlm: tbptt_length must be >= 1, got {self.tbptt_length}")
        for name in ("train_size", "valid_size", "test_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"charlm: {name} must be >= 0, got {getattr(self, name)}")


def stream_layout(ids: torch.Tensor, rows: int, keep_remainder: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs and targets (L, rows) symbol ids of the N - 1 predictions of ``ids``, and each row's
    length: row r holds predictions [r * n, (r + 1) * n) with n = (N - 1) // rows; with
    ``keep_remainder`` the last row also holds the remaining ones and the other rows are padded."""
    predictions = len(ids) - 1
    n = predictions // rows
    if n < 1:
        raise ValueError(f"a split of {len(ids)} symbols cannot fill {rows} rows; use a smaller batch size")
    extra = predictions - rows * n if keep_remainder else 0
    inputs = torch.zeros(n + extra, rows, dtype=ids.dtype)
    targets = torch.zeros_like(inputs)
    inputs[:n] = ids[: rows * n].view(rows, n).T
    targets[:n] = ids[1 : rows * n + 1].view(rows, n).T
    lengths = torch.full((rows,), n)
    if extra:
        inputs[n:, -1] = ids[rows * n : predictions]
        targets[n:, -1] = ids[rows * n + 1 :]
        lengths[-1] += extra
    return inputs, targets, lengths


def window_mask(start: int, stop: int, lengths: torch.Tensor) -> torch.Tensor:
    """(stop - start, rows): 1 where step t of a row is one of its predictions (t < its length)."""
    return (torch.arange(start, stop).unsqueeze(1) < lengths.unsqueeze(0)).float()


@register_task("charlm")
class CharLMTask(StreamTask):
    """Inputs (T, B, V) one-hot symbols; targets (T, B) the next symbols; mask (T, B)."""

    config_class = CharLMConfig
    carries_state = True
    metric_name = "bpc"
    higher_is_better = False

    def __init__(self, config: CharLMConfig):
        super().__init__(config)
        if config.dataset == "text":
            loaded = data.load_text_file(config.text_file)
        else:
            loaded = data.load(config.dataset, verify=config.verify)
        self.vocabulary = loaded.vocabulary
        limits = {"train": config.train_size, "valid": config.valid_size, "test": config.test_size}
        self.ids = {}
        for split in SPLITS:
            ids = torch.from_numpy(loaded.splits[split].copy())  # uint8 / int16: enwik8 stays 100 MB
            self.ids[split] = ids[: limits[split]] if limits[split] else ids
            if len(self.ids[split]) < 2:
                raise ValueError(f"charlm: the {split} split has {len(self.ids[split])} symbols; need at least 2")
        sizes = "/".join(f"{len(self.ids[s]):,}" for s in SPLITS)
        self.description = f"{loaded.description}; symbols train/valid/test {sizes}"

    @property
    def input_size(self) -> int:
        return len(self.vocabulary)

    @property
    def output_size(self) -> int:
        return len(self.vocabulary)

    def window(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> Batch:
        return Batch(F.one_hot(inputs.long(), len(self.vocabulary)).float(), targets.long(), mask)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` windows of ``tbptt_length`` predictions at random places in the training split."""
        ids, length = self.ids["train"], self.config.tbptt_length
        if len(ids) <= length:
            raise ValueError(f"charlm: the training split ({len(ids)} symbols) is shorter than tbptt_length {length}")
        starts = torch.randint(len(ids) - length, (batch_size,), generator=generator)
        index = starts.unsqueeze(0) + torch.arange(length).unsqueeze(1)  # (T, B)
        return self.window(ids[index], ids[index + 1], torch.ones(length, batch_size))

    def batches(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Iterator[Batch]:
        """The split as ``batch_size`` contiguous streams in windows of ``tbptt_length`` steps (the
        same order every epoch: the state carried between batches is the true history)."""
        check_split(split, SPLITS)
        inputs, targets, lengths = stream_layout(self.ids[split], batch_size, keep_remainder=split != "train")
        step = self.config.tbptt_length
        for t in range(0, len(inputs), step):
            stop = min(t + step, len(inputs))
            yield self.window(inputs[t:stop], targets[t:stop], window_mask(t, stop, lengths))

    def num_batches(self, split: str, batch_size: int) -> int:
        predictions = len(self.ids[split]) - 1
        rows = predictions // batch_size + (predictions % batch_size if split != "train" else 0)
        return -(-rows // self.config.tbptt_length)

    def metric_terms(self, logits: torch.Tensor, batch: Batch) -> tuple[float, float]:
        """(bits over the masked predictions, number of predictions)."""
        return float(masked_cross_entropy_sum(logits, batch)) / math.log(2), float(batch.mask.sum())

    def data_description(self) -> str:
        return self.description
