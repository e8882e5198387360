"""AwTA: ARMIN with TARDIS-Addr.

Li, Zhong, Huang, Zhang, Li & Li, "ARMIN: Towards a More Efficient and Light-weight Recurrent Memory
Network", arXiv:1906.12087 (2019), section 4: the ARMIN network with its auto-addressing (eq. 9)
replaced by the addressing of TARDIS (Gulcehre, Chandar & Bengio, arXiv:1701.08718, 2017), to compare
the two addressing mechanisms with the same cell.

Built by composition, nothing copied: the cell, the read (eq. 10) and the write are ARMIN's
(models/armin.py, this class subclasses it); the logits are TARDIS's ``TardisAddressing``
(models/tardis.py), which also reads the memory, the usage and learned cell addresses:
  read   pi_t[i] = a^T tanh(W_x x_t + W_h h_{t-1} + W_u u_t + W_m [a_i, M_t(i)] + b)   (TARDIS)
         s_t = gumbel-softmax(pi_t),  r_t = sum_i s_t(i) M_t(i, :)              (ARMIN eq. 9-10)
  cell   ARMIN eq. 3-8;  write  ARMIN section 3.3
  usage  U_{t+1} = U_t + s_t,  u_t = U_t / |U_t|                                (TARDIS)
The state is ARMIN's plus the usage U_t and the one-hot of the cell read last.

The ARMIN authors' AwTA (github.com/zoharli/armin at commit 9bf8e45, algorithimic_tasks/marnn.py, class
ARMIN_with_TARDIS_addr, lines 330-457) is that addressing with the code's options (381-392: features
[x_t, c_{t-1}, a_i, M_t(i), u_t], pi - 100 on the cell read last, L2-normalised logits, usage and
last-read mask from the straight-through weights; ``address_init="code"``: its init, 364-370, with a
xavier-uniform) and the ARMIN cell as coded (393-416: tanh on the
cell, forget bias 1, write from [x_t, c_t], learned initial state), read with the hard
straight-through gumbel-softmax (445-456), not the soft read of their ARMIN. Its c is this ARMIN's h,
so it already addresses from the cell. Preset ``awta-code`` in benchmarks.yaml.

Biases at initialisation: all zero, as ARMIN's and TARDIS's addressing's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.armin import ARMIN, CODE_VARIANT_OPTIONS as ARMIN_CODE_OPTIONS, NOT_CODE_OPTIONS, ARMINConfig
from models.base import State, config_variant, register_model
from models.tardis import (
    ADDRESSING_CODE_OPTIONS,
    TardisAddressing,
    TardisAddressingConfig,
    last_read_mask,
    update_usage,
)


@dataclass
class AwTAConfig(ARMINConfig, TardisAddressingConfig):
    """ARMIN's options (cell, read, write) and TARDIS's addressing options."""

    hidden_size: int = 100  # d_h (Table 1: 100)
    memory_slots: int = 50  # n_mem (Table 1: 50)
    memory_width: int = 32  # d_r (Table 1: 32); 0 means d_r = d_h


@register_model("awta")
class AwTA(ARMIN):
    config_class = AwTAConfig

    def __init__(self, config: AwTAConfig):
        super().__init__(config)
        del self.W_s  # ARMIN's auto-addressing (eq. 9) ...
        self.addressing = TardisAddressing(config, a_init="xavier_uniform")  # ... replaced by TARDIS's (a: marnn.py:367)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        state = super().initial_state(batch_size, device, dtype)
        like = state["M"]
        state["usage"] = like.new_zeros(batch_size, self.n_mem)  # U_t, reads per slot
        state["last_read"] = like.new_zeros(batch_size, self.n_mem)  # one-hot of the slot read at t-1; none yet
        return state

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        pi_t = self.addressing(x_t, state["h"], state["M"], state["usage"], state["last_read"])  # (B, N) TARDIS
        r_t, read_index, s_t = self.read(pi_t, state["M"])  # ARMIN eq. 9-10 on TARDIS's logits
        o_t, new_state = self.update(x_t, state, r_t, read_index, s_t)  # ARMIN eq. 3-8 and write
        gradient = self.config.usage_gradient
        usage = update_usage(state["usage"], s_t, gradient)
        return o_t, {**new_state, "usage": usage, "last_read": last_read_mask(s_t, gradient)}

    def variant(self) -> str:
        return config_variant(self.config, ARMIN_CODE_OPTIONS + ADDRESSING_CODE_OPTIONS, NOT_CODE_OPTIONS)
