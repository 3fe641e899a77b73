r"""Agreement of the exact gradient engines of the continuous-time LIF network (:mod:`spikegrad.engines.events`):
reverse mode through spike times (:mod:`~spikegrad.engines.spiketime`), continuous EventProp
(:mod:`~spikegrad.engines.adjoint`) and forward propagation (:mod:`~spikegrad.engines.forwardprop`, Lee,
Haghighatshoar & Karbasi, AISTATS 2023), with each other and with central finite differences.

**Networks** (float64, batch 2, τ_s = 10 ms / ratio, τ_m = 10 ms, ϑ = 1, t_max = 60 ms, K = 40 slots, no
truncation): :data:`N_IN` = 24 input channels with up to 3 spikes each, uniform in [0, 50] ms (every third channel
has a padded last slot, every seventh one a spike after t_max, which the layers drop); dense layers of
:data:`SIZES` neurons, weights N(0.5, 0.8²) (first layer) and N(0.2, 0.3²) (second), both × 0.6 when τ_m = τ_s,
so neurons fire about 5–20 times. Each (depth, ratio ∈ {2, 1}, seed) is one case.

**Loss** L = Σ c·t over the finite output spike times of the last layer, c ~ N(0, 1) per (sample, neuron, slot).

**Comparisons** (one row each):

- the three engines' weight gradients, pairwise, elementwise over all weights of all layers:
  max_i |g_a,i − g_b,i| / max_i |g_b,i|;
- central finite differences along ``directions`` random directions d (‖d‖_∞ = 1 per layer):
  (L(W + εd) − L(W − εd)) / 2ε, ε = 1e-7, against ⟨g, d⟩ of each engine: max over d of
  |FD − ⟨g, d⟩| / |⟨g, d⟩|. L is smooth only piecewise: it jumps where W ± εd changes a spike count (a spike
  crossing t_max, appearing or vanishing) and has kinks where an output spike passes an input spike of its neuron
  (κ'(0⁺) ≠ 0, so ∂t/∂w jumps there). A direction is redrawn if its steps change any layer's spike counts or if
  the one-sided differences (L(W + εd) − L(W))/ε and (L(W) − L(W − εd))/ε differ by more than
  :data:`KINK_TOL` relative;
- FP's :func:`~spikegrad.engines.forwardprop.jvp` (one tangent per spike, contracted with c) against the reverse
  dot product ⟨g_spiketime, d⟩, same measure.

Run: ``python -m spikegrad.studies.forwardprop.agreement --out results/agreement.csv --seeds 3 --directions 4``; the
table has columns
depth, ratio, seed, spikes_per_neuron, reference, compared, kind (elementwise, directional), max_rel_diff.
"""

import argparse
import itertools
import math
from pathlib import Path

import pandas as pd
import torch

from spikegrad import results
from spikegrad.engines import CONTINUOUS_ENGINES, forwardprop
from spikegrad.engines.events import EventOptions, simulate
from spikegrad.model import LIFParams

N_IN = 24
SIZES = {1: (5,), 2: (6, 3)}  # neurons per layer, by depth
RATIOS = (2, 1)  # τ_m / τ_s
OPTIONS = EventOptions(max_spikes=40, t_max=60.0)
EPS = 1e-7  # finite-difference step (weights are O(1))
KINK_TOL = 1e-4  # largest relative gap of the one-sided differences (module docstring)
ENGINES = tuple(CONTINUOUS_ENGINES)  # spiketime, adjoint (reverse mode, layer by layer), forwardprop
COLUMNS = ["depth", "ratio", "seed", "spikes_per_neuron", "reference", "compared", "kind", "max_rel_diff"]


def make_case(depth: int, ratio: int, seed: int):
    """(input times [2, N_IN, 3], weights, loss coefficients [2, N_out, K], LIF parameters) (module docstring)."""
    if depth not in SIZES or ratio not in RATIOS:
        raise ValueError(f"depth must be in {list(SIZES)} and ratio in {RATIOS}, got {depth}, {ratio}")
    gen = torch.Generator().manual_seed(seed)
    tin = torch.rand(2, N_IN, 3, dtype=torch.float64, generator=gen) * 50
    tin[:, ::3, -1] = math.inf
    tin[:, 1::7, -1] = OPTIONS.t_max + 5
    scale = 1.0 if ratio == 2 else 0.6
    weights, fan_in = [], N_IN
    for layer, n in enumerate(SIZES[depth]):
        mean, std = (0.5, 0.8) if layer == 0 else (0.2, 0.3)
        weights.append((torch.randn(n, fan_in, dtype=torch.float64, generator=gen) * std + mean) * scale)
        fan_in = n
    coef = torch.randn(2, SIZES[depth][-1], OPTIONS.max_spikes, dtype=torch.float64, generator=gen)
    return tin.sort(-1).values, weights, coef, LIFParams(tau_mem=10.0, tau_syn=10.0 / ratio)


def loss_of(out: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Σ c·t over the finite times of ``out [B, N, K]``."""
    return torch.where(torch.isfinite(out), coef[..., : out.shape[-1]] * out, 0.0).sum()


def engine_gradient(engine: str, tin, weights, coef, lif) -> list[torch.Tensor]:
    """∂L/∂W of every layer by ``engine``."""
    params = [w.clone().requires_grad_() for w in weights]
    if engine == "forwardprop":
        out = forwardprop.network(tin, [forwardprop.LIF(p, lif, OPTIONS) for p in params])[-1]
    else:
        out = tin
        for p in params:
            out = CONTINUOUS_ENGINES[engine].layer(out, p, lif, OPTIONS)
    return list(torch.autograd.grad(loss_of(out, coef), params))


def forward(tin, weights, lif) -> list[torch.Tensor]:
    """Output times of every layer (no gradient)."""
    outs, x = [], tin
    for w in weights:
        x = simulate(x, w, lif, OPTIONS)[2]
        outs.append(x)
    return outs


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def _dot(grads, directions) -> float:
    return sum((g * d).sum() for g, d in zip(grads, directions, strict=True)).item()


def finite_difference(tin, weights, coef, lif, gen: torch.Generator, tries: int = 20):
    """(direction, central FD of L along it): a random direction with ‖d‖_∞ = 1 per layer whose ±EPS steps keep
    every layer's spike counts and cross no kink (module docstring); RuntimeError after ``tries`` draws."""
    outs = forward(tin, weights, lif)
    counts = [torch.isfinite(o).sum(-1) for o in outs]
    center = loss_of(outs[-1], coef).item()
    for _ in range(tries):
        directions = [torch.randn(w.shape, dtype=w.dtype, generator=gen) for w in weights]
        directions = [d / d.abs().max() for d in directions]
        losses = []
        for sign in (1, -1):
            outs = forward(tin, [w + sign * EPS * d for w, d in zip(weights, directions, strict=True)], lif)
            if any(not torch.equal(torch.isfinite(o).sum(-1), n) for o, n in zip(outs, counts, strict=True)):
                break
            losses.append(loss_of(outs[-1], coef).item())
        else:
            ahead, behind = (losses[0] - center) / EPS, (center - losses[1]) / EPS
            if abs(ahead - behind) <= KINK_TOL * max(abs(ahead), abs(behind)):
                return directions, (losses[0] - losses[1]) / (2 * EPS)
    raise RuntimeError(f"no direction in {tries} draws keeps the spike counts and crosses no kink at ±{EPS}")


def compare_case(depth: int, ratio: int, seed: int, directions: int) -> list[dict]:
    """The rows of one case (module docstring)."""
    tin, weights, coef, lif = make_case(depth, ratio, seed)
    outs = forward(tin, weights, lif)
    spikes = sum(torch.isfinite(o).sum().item() for o in outs) / sum(o.shape[0] * o.shape[1] for o in outs)
    grads = {engine: engine_gradient(engine, tin, weights, coef, lif) for engine in ENGINES}
    flat = {engine: torch.cat([g.reshape(-1) for g in grads[engine]]) for engine in ENGINES}
    base = {"depth": depth, "ratio": ratio, "seed": seed, "spikes_per_neuron": spikes}
    rows = [
        {**base, "reference": a, "compared": b, "kind": "elementwise", "max_rel_diff": rel_diff(flat[b], flat[a])}
        for a, b in itertools.combinations(ENGINES, 2)
    ]
    gen = torch.Generator().manual_seed(10_000 + seed)
    worst = dict.fromkeys(ENGINES, 0.0)
    worst_jvp = 0.0
    for _ in range(directions):
        d, fd = finite_difference(tin, weights, coef, lif, gen)
        for engine in ENGINES:
            worst[engine] = max(worst[engine], abs(fd - _dot(grads[engine], d)) / abs(_dot(grads[engine], d)))
        _, tangents = forwardprop.jvp(tin, [forwardprop.LIF(w, lif, OPTIONS) for w in weights], d)
        jvp = loss_of(torch.where(torch.isfinite(outs[-1]), tangents[-1], 0.0), coef).item()
        reverse = _dot(grads["spiketime"], d)
        worst_jvp = max(worst_jvp, abs(jvp - reverse) / abs(reverse))
    rows += [{**base, "reference": "finite differences", "compared": engine, "kind": "directional",
              "max_rel_diff": worst[engine]} for engine in ENGINES]  # fmt: skip
    rows.append({**base, "reference": "spiketime", "compared": "forwardprop jvp", "kind": "directional",
                 "max_rel_diff": worst_jvp})  # fmt: skip
    return rows


def agreement(seeds: int, directions: int) -> pd.DataFrame:
    """The table of the module docstring over depths 1 and 2, both ratios and seeds 0..``seeds`` − 1."""
    if seeds < 1 or directions < 1:
        raise ValueError(f"seeds and directions must be positive, got {seeds}, {directions}")
    rows = [row for depth, ratio, seed in itertools.product(SIZES, RATIOS, range(seeds))
            for row in compare_case(depth, ratio, seed, directions)]  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Largest relative difference over seeds per comparison (rows) and network (columns "depth d, τ_m/τ_s = r")."""
    table = table.assign(network=[f"{d} layer{'s' * (d > 1)}, τ_m/τ_s = {r}" for d, r in
                                  zip(table["depth"], table["ratio"], strict=True)])  # fmt: skip
    table["comparison"] = table["compared"] + " vs " + table["reference"]
    order = list(dict.fromkeys(table["comparison"]))
    wide = table.pivot_table(index="comparison", columns="network", values="max_rel_diff", aggfunc="max")
    return wide.reindex(order)


def markdown(table: pd.DataFrame) -> str:
    """:func:`summary` as a Markdown table (values in %.1e), with the seeds and mean spikes per neuron below."""
    wide = summary(table)
    lines = ["| comparison | " + " | ".join(wide.columns) + " |", "|---" * (len(wide.columns) + 1) + "|"]
    for name, row in wide.iterrows():
        lines.append(f"| {name} | " + " | ".join(f"{v:.1e}" for v in row) + " |")
    seeds = table["seed"].nunique()
    lines.append("")
    lines.append(f"Largest relative difference over {seeds} seed{'s' * (seeds > 1)} per network (float64); "
                 f"{table['spikes_per_neuron'].mean():.1f} spikes per neuron on average.")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV to write (atomically)")
    parser.add_argument("--seeds", type=int, default=3, help="random networks per (depth, ratio)")
    parser.add_argument("--directions", type=int, default=4, help="finite-difference directions per network")
    args = parser.parse_args(argv)
    results.write_text(args.out, agreement(args.seeds, args.directions).to_csv(index=False))


if __name__ == "__main__":
    main()
