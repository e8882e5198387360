"""Per-iteration training time (copy, length 20 -> 42 steps, batch 1, RMSprop step) of each preset,
interleaved rounds in one process, median; printed as a ratio to NTM and to ARMIN."""
import statistics, time, sys
from pathlib import Path
import torch, yaml
from models import build_model
from bench.config import DEFAULT_CONFIG_PATH
torch.set_num_threads(1)
P = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())["models"]
names = sys.argv[1].split(",")
L, bits = 20, 8
models, opts = {}, {}
for n in names:
    o = dict(P[n]); c = o.pop("class")
    torch.manual_seed(0)
    m = build_model(c, input_size=bits + 2, output_size=bits, **o); m.train(); m.set_inverse_temperature(5.0)
    models[n] = m; opts[n] = torch.optim.RMSprop(m.parameters(), lr=1e-4, alpha=0.95, momentum=0.9)
x = torch.zeros(2 * L + 2, 1, bits + 2); x[1:L + 1, :, :bits] = torch.bernoulli(torch.full((L, 1, bits), 0.5)); x[0, :, bits] = 1; x[L + 1, :, bits + 1] = 1
target = torch.bernoulli(torch.full((L, 1, bits), 0.5))
times = {n: [] for n in names}
for rnd in range(int(sys.argv[2])):
    for n in names:
        m, opt = models[n], opts[n]
        t0 = time.perf_counter()
        y, _ = m(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(y[-L:], target)
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_value_(m.parameters(), 10); opt.step()
        if rnd > 0: times[n].append(time.perf_counter() - t0)
med = {n: statistics.median(v) for n, v in times.items()}
for n in names:
    print(f"{n:12s} {med[n]*1000:8.1f} ms/it  x{med[n]/med['lstm']:.1f} LSTM  NTM/this {med['ntm']/med[n]:.2f}  this/ARMIN {med[n]/med['armin']:.2f}")
