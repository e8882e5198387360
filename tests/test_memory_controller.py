"""What DNC and SAM share (models/dnc.py MemoryController): gradient flow through the controller and the
interface, and forward at the batch sizes and dtypes the paper's tables use."""

from __future__ import annotations

import pytest
import torch

from test_dnc import small_dnc
from test_sam import small_sam

# model factory, and a state entry with its expected shape at batch B (2 read heads)
MODELS = {
    "dnc": (small_dnc, "L", lambda B: (B, 6, 6)),  # temporal link matrix over 6 slots
    "sam": (small_sam, "read_index", lambda B: (B, 2, 3)),  # K = 3 slot indices per read head
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_reach_the_controller_and_interface(name):
    torch.manual_seed(0)
    model = MODELS[name][0]()
    logits, _ = model(torch.randn(6, 2, 4))
    logits.pow(2).sum().backward()
    for param in ("controller.weight_ih", "controller.weight_hh", "W_xi.linear.weight", "readout.weight"):
        grad = dict(model.named_parameters())[param].grad
        assert grad is not None and grad.abs().sum() > 0, param


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch_size", [1, 32])
def test_forward_batch_sizes_and_dtypes(name, batch_size, dtype):
    factory, key, shape = MODELS[name]
    model = factory(learned_initial_state=True).to(dtype)
    logits, state = model(torch.randn(5, batch_size, 4, dtype=dtype))
    assert logits.shape == (5, batch_size, 3) and logits.dtype == dtype
    assert torch.isfinite(logits).all()
    assert state[key].shape == shape(batch_size)
