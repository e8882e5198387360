"""Memory operations shared by the adapters: discrete (one-hot) addressing, row reads and writes,
and content addressing. Every adapter that needs one of these calls it from here.

Shapes: B batch, N memory slots, W slot width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Keep u in (0, 1) so that -log(-log(u)) stays finite in float32 and float64.
_GUMBEL_EPS = 1e-10
# Keeps cosine similarity finite for all-zero keys or rows (empty memory).
COSINE_EPS = 1e-8


def sample_gumbel(shape, like: torch.Tensor) -> torch.Tensor:
    """g = -log(-log(u)), u ~ Uniform(0, 1)  (ARMIN paper eq. 2)."""
    u = torch.rand(shape, device=like.device, dtype=like.dtype).clamp_(_GUMBEL_EPS, 1.0 - _GUMBEL_EPS)
    return -torch.log(-torch.log(u))


def gumbel_softmax(
    logits: torch.Tensor,
    inverse_temperature: float = 1.0,
    *,
    noise: bool = True,
    hard: bool = True,
    scale_logits_only: bool = False,
) -> torch.Tensor:
    """Gumbel-softmax over the last axis (ARMIN paper eq. 1), straight-through when ``hard``.

    Paper form: y = softmax((logits + g) / tau). With ``scale_logits_only`` the inverse temperature
    multiplies the logits alone, y = softmax(logits / tau + g), as the ARMIN authors' code does; there
    the annealing also shrinks the sampling noise relative to the logits.

    ``hard``: the forward value is the one-hot argmax of the perturbed logits, the gradient that of
    the soft sample (straight-through estimator). ``noise=False`` gives the deterministic version.
    """
    g = sample_gumbel(logits.shape, logits) if noise else torch.zeros_like(logits)
    if scale_logits_only:
        y_soft = F.softmax(logits * inverse_temperature + g, dim=-1)
    else:
        y_soft = F.softmax((logits + g) * inverse_temperature, dim=-1)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim=-1, keepdim=True)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def read_weighted(M: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """r = sum_i w(i) M(i, :)   M (B, N, W), w (B, N) -> (B, W)  (ARMIN eq. 10, NTM eq. 2)."""
    return torch.bmm(w.unsqueeze(1), M).squeeze(1)


def read_rows(M: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Discrete read by index: M (B, N, W), index (B,) -> (B, W). No product over the memory."""
    return M[torch.arange(M.shape[0], device=M.device), index]


def write_rows(M: torch.Tensor, index: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Discrete overwrite, out of place so autograd sees it: row ``index[b]`` of M[b] becomes
    value[b]. M (B, N, W), index (B,), value (B, W) -> (B, N, W). The gradient reaches ``value``
    and the rows of M that were not overwritten."""
    B, _, W = M.shape
    return M.scatter(1, index.view(B, 1, 1).expand(B, 1, W), value.unsqueeze(1))


def write_rows_(M: torch.Tensor, index: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """In-place discrete overwrite for inference (no autograd): the memory as a list of slots."""
    M[torch.arange(M.shape[0], device=M.device), index] = value
    return M


def write_discrete(
    M: torch.Tensor, filled: torch.Tensor, read_index: torch.Tensor, value: torch.Tensor, in_place: bool
) -> torch.Tensor:
    """The discrete write of ARMIN (section 3.3) and TARDIS: ``value`` (B, W) goes to the next empty
    slot while the memory fills (``filled`` slots written so far, a 0-dim counter), afterwards to the
    slot just read. ``in_place`` for inference (the memory as a list of slots)."""
    slot = torch.where(filled < M.shape[1], filled, read_index)  # (B,)
    return write_rows_(M, slot, value) if in_place else write_rows(M, slot, value)


def cosine_similarity(M: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """K[k, M(i)] = k . M(i) / (|k| |M(i)|)   M (B, N, W), k (B, W) -> (B, N)  (NTM eq. 6)."""
    dot = torch.bmm(M, k.unsqueeze(2)).squeeze(2)
    norms = M.norm(dim=2) * k.norm(dim=1, keepdim=True)
    return dot / (norms + COSINE_EPS)


def content_weights(M: torch.Tensor, k: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """w^c(i) = softmax_i(beta K[k, M(i)])   beta (B, 1) -> (B, N)  (NTM eq. 5)."""
    return F.softmax(beta * cosine_similarity(M, k), dim=-1)


def gumbel_sigmoid(logits: torch.Tensor, inverse_temperature: float = 1.0, *, noise: bool = True) -> torch.Tensor:
    """Gumbel-sigmoid (binary concrete): y = sigmoid((logits + g_1 - g_2) / tau), the two-class case
    of the gumbel-softmax (the difference of two Gumbel samples is logistic noise). Soft, no
    straight-through. ``noise=False`` gives sigmoid(logits / tau). Used for TARDIS's alpha, beta."""
    if noise:
        logits = logits + sample_gumbel(logits.shape, logits) - sample_gumbel(logits.shape, logits)
    return torch.sigmoid(logits * inverse_temperature)


def read_one_hot(
    M: torch.Tensor,
    logits: torch.Tensor,
    inverse_temperature: float,
    *,
    training: bool,
    noise: bool = True,
    scale_logits_only: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Discrete read of one row: M (B, N, W), logits (B, N) -> r (B, W) and the row index (B,).

    Training: r = sum_i s(i) M(i, :) with s the hard straight-through gumbel-softmax of the logits
    (one-hot forward, soft gradient). Inference: the argmax row, read by index (no product over M).
    """
    if not training:
        index = logits.argmax(dim=-1)
        return read_rows(M, index), index
    s = gumbel_softmax(logits, inverse_temperature, noise=noise, scale_logits_only=scale_logits_only)  # (B, N)
    return read_weighted(M, s), s.argmax(dim=-1)


def cosine_similarity_heads(M: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """K[k_h, M(i)] for H keys at once: M (B, N, W), k (B, H, W) -> (B, H, N)  (NTM eq. 6)."""
    dot = torch.bmm(k, M.transpose(1, 2))  # (B, H, N)
    norms = k.norm(dim=2, keepdim=True) * M.norm(dim=2).unsqueeze(1)  # (B, H, 1) * (B, 1, N)
    return dot / (norms + COSINE_EPS)


def content_weights_heads(M: torch.Tensor, k: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """w^c_h(i) = softmax_i(beta_h K[k_h, M(i)])   k (B, H, W), beta (B, H, 1) -> (B, H, N)  (NTM eq. 5)."""
    return F.softmax(beta * cosine_similarity_heads(M, k), dim=-1)


def read_weighted_heads(M: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """r_h = sum_i w_h(i) M(i, :) for H heads: M (B, N, W), w (B, H, N) -> (B, H, W)  (NTM eq. 2)."""
    return torch.bmm(w, M)


def erase_add_write(M: torch.Tensor, w: torch.Tensor, e: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Soft write by H heads, erase then add (NTM eq. 3-4; the DNC write is the case H = 1):
    M~(i) = M(i) * prod_h (1 - w_h(i) e_h),  then  M(i) = M~(i) + sum_h w_h(i) a_h.
    M (B, N, W), w (B, H, N), e and a (B, H, W) -> (B, N, W), out of place."""
    keep = (1.0 - w.unsqueeze(3) * e.unsqueeze(2)).prod(dim=1)  # (B, N, W)  eq. 3
    return M * keep + torch.bmm(w.transpose(1, 2), a)  # eq. 4


def oneplus(x: torch.Tensor) -> torch.Tensor:
    """oneplus(x) = 1 + log(1 + e^x): a key strength in [1, inf)  (DNC, Methods 'Interface parameters')."""
    return 1.0 + F.softplus(x)


def nearest_slots(M: torch.Tensor, q: torch.Tensor, K: int) -> torch.Tensor:
    """Indices of the K rows most similar (cosine) to each query: M (B, N, W), q (B, H, W) -> (B, H, K).

    Exact search, outside the autograd graph (the choice of rows is not differentiable; the weights
    computed on the gathered rows are). SAM (Rae et al. 2016) puts an approximate nearest-neighbour
    index here; one can replace this function without touching its callers."""
    return cosine_similarity_heads(M.detach(), q.detach()).topk(K, dim=-1).indices


def gather_rows(M: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows by index: M (B, N, W), index (B, K) -> (B, K, W). The gradient reaches those K rows only."""
    B, K = index.shape
    return M.gather(1, index.unsqueeze(2).expand(B, K, M.shape[2]))


def add_rows(M: torch.Tensor, index: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Sparse update M(index[b, k]) += delta[b, k] (repeated indices add up), out of place so autograd
    sees it: M (B, N, W), index (B, K), delta (B, K, W) -> (B, N, W). Only the K rows change."""
    return M.scatter_add(1, index.unsqueeze(2).expand_as(delta), delta)


def add_rows_(M: torch.Tensor, index: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """In-place ``add_rows`` for inference (no autograd): O(K W) work, the rest of M untouched."""
    return M.scatter_add_(1, index.unsqueeze(2).expand_as(delta), delta)


# --- matrix-valued associative memory (fast weights; models/fastweights.py, models/learned_assoc.py) ---
# A memory is a matrix A (B, [M,] D_v, D_k) per sequence, written with outer products v k^T and read by
# a matrix-vector product; a leading memory axis M holds several memories side by side.


def associative_read(A: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """r = A q: A (B, [M,] D_v, D_k), q (B, D_k) -> (B, [M,] D_v). With A = sum_tau v_tau k_tau^T this is
    sum_tau v_tau (k_tau . q): each stored value weighted by the match of its key with the query
    (Ba et al. 2016 eq. 3)."""
    q = q.reshape(q.shape[0], *([1] * (A.dim() - 3)), q.shape[-1], 1)  # (B, [1,] D_k, 1)
    return torch.matmul(A, q).squeeze(-1)


def associative_write(
    A: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    decay: float | torch.Tensor,
    strength: float | torch.Tensor,
    *,
    in_place: bool = False,
) -> torch.Tensor:
    """A' = decay * A + strength * v k^T (Ba et al. 2016 eq. 1 is k = v = h_t, decay lambda, strength eta).

    A (B, [M,] D_v, D_k), k (B, [M,] D_k), v (B, [M,] D_v); ``decay`` and ``strength`` are numbers or
    tensors (B, [M]) (learned per step). Out of place so autograd sees it; ``in_place`` for inference
    (no autograd): A is scaled and added to where it lies, no new D_v x D_k matrix per step."""
    D_v, D_k = A.shape[-2:]
    if torch.is_tensor(strength):
        v, strength = strength.unsqueeze(-1) * v, 1.0  # fold a per-memory strength into v
    if torch.is_tensor(decay):
        decay = decay.reshape(*decay.shape, 1, 1)  # (B, [M,] 1, 1)
    v3, k3 = v.reshape(-1, D_v, 1), k.reshape(-1, 1, D_k)  # (B*M, D_v, 1), (B*M, 1, D_k)
    if in_place:
        A.mul_(decay)
        A.view(-1, D_v, D_k).baddbmm_(v3, k3, alpha=strength)
        return A
    if torch.is_tensor(decay):
        return torch.baddbmm((decay * A).reshape(-1, D_v, D_k), v3, k3, alpha=strength).view(A.shape)
    return torch.baddbmm(A.reshape(-1, D_v, D_k), v3, k3, beta=decay, alpha=strength).view(A.shape)


def settle(boundary: torch.Tensor, read, steps: int, norm, activation) -> torch.Tensor:
    """The fast-weights inner loop (Ba et al. 2016 eq. 2, layer-normalised as their section 3.2):
    h_0 = f(boundary), then S times h_{s+1} = f(LN[boundary + A h_s]), where ``boundary`` = W h(t) + C x(t)
    (the sustained boundary condition, (B, D)), ``read(h)`` returns A h (B, D), ``norm`` is LN (or the
    identity) and ``activation`` f. Returns h_S (B, D)."""
    h = activation(boundary)  # the preliminary vector h_0(t+1)
    for _ in range(steps):
        h = activation(norm(boundary + read(h)))
    return h
