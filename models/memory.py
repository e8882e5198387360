"""Memory operations shared by the adapters: discrete (one-hot) addressing, row reads and writes,
and content addressing. Every adapter that needs one of these calls it from here.

Shapes: B batch, N memory slots, W slot width.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models import noise

# Keep u in (0, 1) so that -log(-log(u)) stays finite in float32 and float64.
_GUMBEL_EPS = 1e-10
# Keeps cosine similarity finite for all-zero keys or rows (empty memory).
COSINE_EPS = 1e-8


def sample_gumbel(shape, like: torch.Tensor) -> torch.Tensor:
    """g = -log(-log(u)), u ~ Uniform(0, 1)  (ARMIN paper eq. 2)."""
    u = noise.rand(shape, like).clamp_(_GUMBEL_EPS, 1.0 - _GUMBEL_EPS)
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

    y = softmax((logits + g) / tau): the inverse temperature multiplies the perturbed logits together.
    This is also what every gumbel-softmax of the ARMIN authors' code computes
    (github.com/zoharli/armin at 9bf8e45: algorithimic_tasks/marnn.py:184, 318, 453;
    pmnist_task/marnn.py:183, 326). With a hard read the forward sample argmax(logits + g) does not
    depend on tau; tau only shapes the straight-through gradient.

    ``scale_logits_only``: y = softmax(logits / tau + g), the noise left unscaled, so that annealing
    makes the sample nearly deterministic. Neither the paper's form nor the authors' code: a harness
    option kept for comparison (recorded as "not-code" in the ``variant`` column).

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
    slot = written_slot(filled, read_index, M.shape[1])  # (B,)
    return write_rows_(M, slot, value) if in_place else write_rows(M, slot, value)


def written_slot(filled: torch.Tensor, read_index: torch.Tensor, slots: int) -> torch.Tensor:
    """The row ``write_discrete`` writes: the next empty one while fewer than ``slots`` are filled,
    else the one read (B,)."""
    return torch.where(filled < slots, filled, read_index)


def write_interpolated(M: torch.Tensor, w: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Soft overwrite: M(i) <- (1 - w(i)) M(i) + w(i) value, for weights w (B, N) over the rows (the
    ARMIN authors' write, algorithimic_tasks/marnn.py:172-174, which with their soft read spreads one
    value over every slot). M (B, N, W), value (B, W) -> (B, N, W), out of place."""
    return torch.lerp(M, value.unsqueeze(1), w.unsqueeze(2))  # M + w (value - M), one operation


def cosine_similarity(M: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """K[k, M(i)] = k . M(i) / (|k| |M(i)|)   M (B, N, W), k (B, W) -> (B, N)  (NTM eq. 6)."""
    dot = torch.bmm(M, k.unsqueeze(2)).squeeze(2)
    norms = M.norm(dim=2) * k.norm(dim=1, keepdim=True)
    return dot / (norms + COSINE_EPS)


def content_weights(M: torch.Tensor, k: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """w^c(i) = softmax_i(beta K[k, M(i)])   beta (B, 1) -> (B, N)  (NTM eq. 5)."""
    return F.softmax(beta * cosine_similarity(M, k), dim=-1)


def gumbel_sigmoid(
    logits: torch.Tensor, inverse_temperature: float = 1.0, *, noise: bool = True, one_sample: bool = False
) -> torch.Tensor:
    """Gumbel-sigmoid (binary concrete): y = sigmoid((logits + g_1 - g_2) / tau), the two-class case
    of the gumbel-softmax (the difference of two Gumbel samples is logistic noise, mean 0). Soft, no
    straight-through. ``noise=False`` gives sigmoid(logits / tau). Used for TARDIS's alpha, beta.

    ``one_sample``: y = sigmoid((logits + g) / tau) with a single Gumbel sample, as the ARMIN authors'
    TARDIS code (algorithimic_tasks/marnn.py:324-327): the noise has mean Euler's gamma = 0.577, so the
    gates lean open: at logit 0, P(y > 1/2) = P(g > 0) = 1 - exp(-1) = 0.63."""
    if noise:
        g = sample_gumbel(logits.shape, logits)
        logits = logits + g if one_sample else logits + g - sample_gumbel(logits.shape, logits)
    return torch.sigmoid(logits * inverse_temperature)


def read_one_hot(
    M: torch.Tensor,
    logits: torch.Tensor,
    inverse_temperature: float,
    *,
    training: bool,
    noise: bool = True,
    scale_logits_only: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Discrete read of one row: M (B, N, W), logits (B, N) -> r (B, W), the row index (B,) and the
    read weights (B, N), one-hot in the forward pass.

    Training: r = sum_i s(i) M(i, :) with s the hard straight-through gumbel-softmax of the logits
    (one-hot forward, soft gradient; s is returned with its gradient). Inference: the argmax row, read
    by index (no product over M); the weights are its one-hot, without gradient.
    """
    if not training:
        index = logits.argmax(dim=-1)
        return read_rows(M, index), index, F.one_hot(index, logits.shape[-1]).to(logits.dtype)
    s = gumbel_softmax(logits, inverse_temperature, noise=noise, scale_logits_only=scale_logits_only)  # (B, N)
    return read_weighted(M, s), s.argmax(dim=-1), s


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
    M (B, N, W), w (B, H, N), e and a (B, H, W) -> (B, N, W), out of place. One head: the product
    has one factor, 1 - w e^T, an outer product (no product over heads, whose backward is costly)."""
    w_t = w.transpose(1, 2)  # (B, N, H)
    if w.shape[1] == 1:
        keep = 1.0 - torch.bmm(w_t, e)  # (B, N, W)  eq. 3
    else:
        keep = (1.0 - w.unsqueeze(3) * e.unsqueeze(2)).prod(dim=1)  # (B, N, W)  eq. 3
    return torch.baddbmm(M * keep, w_t, a)  # eq. 4: M~ + sum_h w_h a_h^T


def oneplus(x: torch.Tensor) -> torch.Tensor:
    """oneplus(x) = 1 + log(1 + e^x): a key strength in [1, inf)  (DNC, Methods 'Interface parameters')."""
    return 1.0 + F.softplus(x)


def nearest_slots(M: torch.Tensor, q: torch.Tensor, K: int, metric: str = "cosine",
                  allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Indices of the K rows nearest to each query: M (B, N, W), q (B, H, W) -> (B, H, K), by cosine
    similarity or (``metric="euclidean"``) by Euclidean distance; only among the rows ``allowed``
    (B, N) bool marks, when given.

    Exact search over all N rows, O(N W) per query (SAM's "SAM linear"), outside the autograd graph (the
    choice of rows is not differentiable; the weights computed on the gathered rows are). SAM's
    approximate index is models/ann_index.py."""
    M, q = M.detach(), q.detach()
    if metric == "euclidean":
        score = -((q * q).sum(2, keepdim=True) - 2.0 * torch.bmm(q, M.transpose(1, 2)) + (M * M).sum(2).unsqueeze(1))
    else:
        score = cosine_similarity_heads(M, q)
    if allowed is not None:
        score = score.masked_fill(~allowed.unsqueeze(1), float("-inf"))
    return score.topk(K, dim=-1).indices


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


# --- SAM's sparse memory (Rae et al. 2016, sections 3.2-3.4): in-place writes, a journal, a ring --------
class MemoryTape:
    """The memory of one forward pass written in place (SAM section 3.4, "efficient backpropagation
    through time"): M (B, N, W) is modified in place by ``tape_write`` and read by ``tape_gather``.
    Each write journals the rows it overwrites (their old and new values, O(K W)); in the backward
    pass each write restores its rows, so the memory walks back from M_T to M_0 in O(K W) per step,
    and when the whole backward pass is done the journal re-applies the new rows (O(T K W)): the
    memory holds M_T again, the state the forward pass returned.

    Gradients with respect to the memory live in ``grad`` (B, N, W), a buffer that outlives the tape
    (allocated once per memory): each step's backward adds into or clears only the rows it touched,
    and the rows touched in a pass are cleared at its end, so a pass costs O(T K W), never O(N W)."""

    def __init__(self, M: torch.Tensor, grad: torch.Tensor):
        self.M, self.grad = M, grad  # both (B, N, W); M is a plain tensor, outside autograd
        self.journal: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (slots, old, new) per write
        self.restored: list[bool] = []  # per write: its backward ran and restored its rows
        self.touched: list[torch.Tensor] = []  # slots (B, C) whose gradient rows were written
        self.last_token: torch.Tensor | None = None  # the newest op's output: what the next op takes

    def rows(self, slots: torch.Tensor) -> torch.Tensor:
        """M(slots): slots (B, C) -> (B, C, W), a copy."""
        return gather_rows(self.M, slots)

    def undo(self, entry: int) -> None:
        slots, old, _ = self.journal[entry]
        batch = torch.arange(slots.shape[0], device=slots.device).unsqueeze(1)
        self.M[batch, slots] = old  # a slot listed twice has the same old row in both places
        self.restored[entry] = True

    def finish(self) -> None:
        """End of a backward pass: undo what no backward restored (the memory is now M_0), re-apply
        every write in order (M_T again) and clear the gradient rows this pass touched."""
        for entry in reversed(range(len(self.journal))):
            if not self.restored[entry]:
                self.undo(entry)
        for slots, _, new in self.journal:
            batch = torch.arange(slots.shape[0], device=slots.device).unsqueeze(1)
            self.M[batch, slots] = new
        for slots in self.touched:
            batch = torch.arange(slots.shape[0], device=slots.device).unsqueeze(1)
            self.grad[batch, slots] = 0.0
        self.journal, self.restored, self.touched = [], [], []


class _TapeStart(torch.autograd.Function):
    """The first link of a tape's chain of operations. Its backward runs after every other one of the
    tape: it finishes the tape and hands the gradient with respect to M_0 to M (when M needs one)."""

    @staticmethod
    def forward(ctx, tape: MemoryTape, anchor: torch.Tensor) -> torch.Tensor:
        ctx.tape, ctx.shape = tape, anchor.shape
        return anchor.new_zeros(())

    @staticmethod
    def backward(ctx, _):
        tape = ctx.tape
        grad_M0 = tape.grad.clone() if ctx.shape == tape.M.shape else tape.grad.new_zeros(ctx.shape)
        tape.finish()
        return None, grad_M0


class _TapeWrite(torch.autograd.Function):
    """M(erase) = 0, then M(slots[b, c]) += delta[b, c] (repeated slots add up), in place; the token
    orders the tape's operations. O(C W) forward and backward."""

    @staticmethod
    def forward(ctx, tape: MemoryTape, token: torch.Tensor, slots: torch.Tensor, delta: torch.Tensor,
                erase: torch.Tensor) -> torch.Tensor:
        batch = torch.arange(slots.shape[0], device=slots.device)
        old = tape.rows(slots)  # the journal: rows as they were (B, C, W)
        tape.M[batch, erase] = 0.0
        add_rows_(tape.M, slots, delta)
        new = tape.rows(slots)
        tape.journal.append((slots, old, new))
        tape.restored.append(False)
        ctx.tape, ctx.entry = tape, len(tape.journal) - 1
        ctx.save_for_backward(slots, erase, old, new)  # the journal is what this step keeps for backward
        return token.new_zeros(())

    @staticmethod
    def backward(ctx, _):
        tape = ctx.tape
        slots, erase, _, _ = ctx.saved_tensors
        batch = torch.arange(slots.shape[0], device=slots.device)
        grad_delta = gather_rows(tape.grad, slots)  # dL/dM_t on the written rows
        tape.grad[batch, erase] = 0.0  # M_t(erase) does not depend on M_{t-1}(erase)
        tape.touched.append(erase.unsqueeze(1))
        tape.undo(ctx.entry)  # M_t -> M_{t-1}
        return None, None, None, grad_delta, None


class _TapeGather(torch.autograd.Function):
    """rows = M(slots) (B, C, W), a copy; the backward adds the rows' gradient into the tape's buffer."""

    @staticmethod
    def forward(ctx, tape: MemoryTape, token: torch.Tensor, slots: torch.Tensor):
        ctx.tape = tape
        ctx.save_for_backward(slots)
        return tape.rows(slots), token.new_zeros(())

    @staticmethod
    def backward(ctx, grad_rows, _):
        tape = ctx.tape
        (slots,) = ctx.saved_tensors
        if grad_rows is not None:
            batch = torch.arange(slots.shape[0], device=slots.device).unsqueeze(1)
            tape.grad.index_put_((batch.expand_as(slots), slots), grad_rows, accumulate=True)
            tape.touched.append(slots)
        return None, None, None


def tape_start(tape: MemoryTape, M: torch.Tensor) -> torch.Tensor:
    """The token that starts a tape (M_0's gradient flows to M when M requires it)."""
    anchor = M if M.requires_grad else torch.zeros((), dtype=M.dtype, device=M.device, requires_grad=True)
    tape.last_token = _TapeStart.apply(tape, anchor)
    return tape.last_token


def tape_write(tape: MemoryTape, token: torch.Tensor, slots: torch.Tensor, delta: torch.Tensor,
               erase: torch.Tensor) -> torch.Tensor:
    """In-place sparse write, journaled: slots (B, C), delta (B, C, W), erase (B,) -> the next token."""
    tape.last_token = _TapeWrite.apply(tape, token, slots, delta, erase)
    return tape.last_token


def tape_gather(tape: MemoryTape, token: torch.Tensor, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of the tape's memory: slots (B, C) -> rows (B, C, W) and the next token."""
    rows, tape.last_token = _TapeGather.apply(tape, token, slots)
    return rows, tape.last_token


class LeastRecentRing:
    """SAM's "least accessed ring" (supplementary A.1): the slots of one memory in a doubly linked list
    ordered by (time of last access, slot number), the head being the least recently accessed slot:
    argmin_i T(i), ties to the lowest slot, as ``access_time.argmin()``. Moving the slots accessed at a
    step to the tail costs O(1) each; reading the head O(1). Set-up O(N log N) from access times."""

    def __init__(self, access_time: np.ndarray):
        N = len(access_time)
        order = np.lexsort((np.arange(N), access_time))  # by time, then slot
        self.N = N
        self.next = np.empty(N + 1, dtype=np.int64)  # node N is the sentinel: next[N] = head, prev[N] = tail
        self.prev = np.empty(N + 1, dtype=np.int64)
        chain = np.concatenate([[N], order, [N]])
        self.next[chain[:-1]] = chain[1:]
        self.prev[chain[1:]] = chain[:-1]

    def head(self) -> int:
        return int(self.next[self.N])

    def touch(self, slots) -> None:
        """Move ``slots`` (distinct, accessed now) to the tail in ascending order."""
        nxt, prv, tail = self.next, self.prev, self.N
        for s in sorted(slots):
            p, n = prv[s], nxt[s]
            nxt[p], prv[n] = n, p  # unlink
            last = prv[tail]
            nxt[last], prv[s], nxt[s], prv[tail] = s, last, tail, s  # append


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
