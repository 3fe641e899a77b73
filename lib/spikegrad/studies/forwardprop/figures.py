"""Figures of the forward-propagation study (Lee, Haghighatshoar & Karbasi, "Exact gradient computation for
spiking neural networks via forward propagation", AISTATS 2023): the cost of the full forward-mode gradient, of one
forward-mode directional derivative and of reverse mode as the network grows, from the JSON written by
:mod:`spikegrad.bench.forwardprop`. Style and backend come from :mod:`spikegrad.plots`."""

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import NullLocator

from spikegrad.plots import set_style

METHODS = {  # column of the benchmark: label
    "fp_full_s": "FP, full gradient",
    "fp_jvp_s": "FP, one JVP",
    "reverse_s": "reverse mode (spiketime)",
    "forward_only_s": "forward pass only",
}


def bench_table(bench: dict) -> pd.DataFrame:
    """Tidy table (hidden, P, spikes, method, seconds) of a benchmark's ``sizes``; sizes where a method did not
    run (the full Jacobian over its memory budget: ``fp_full_s`` null) are left out for that method."""
    sizes = bench.get("sizes")
    if not sizes:
        raise ValueError("benchmark holds no sizes")
    rows = [
        {"hidden": size["hidden"], "P": size["P"], "spikes": size["spikes"], "method": method, "seconds": size[method]}
        for size in sizes
        for method in METHODS
        if size.get(method) is not None
    ]
    return pd.DataFrame(rows, columns=["hidden", "P", "spikes", "method", "seconds"])


def cost_scaling(bench: dict) -> plt.Figure:
    """Seconds per forward + gradient vs hidden size (log-log): full forward-mode gradient, one forward-mode JVP,
    reverse mode, and the event simulation alone (dashed), with the number of weights P on a top axis; the
    device and batch in the legend's title."""
    table = bench_table(bench)
    set_style()
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    for j, (method, label) in enumerate(METHODS.items()):
        rows = table[table["method"] == method].sort_values("hidden")
        if len(rows):
            style = {"ls": "--", "color": "0.5"} if method == "forward_only_s" else {"color": f"C{j}"}
            ax.plot(rows["hidden"], rows["seconds"], marker="o", label=label, **style)
    ax.set(xscale="log", yscale="log", xlabel="hidden neurons h", ylabel="seconds (forward + gradient)")
    sizes = table.drop_duplicates("hidden").sort_values("hidden")
    ax.set_xticks(sizes["hidden"], [str(h) for h in sizes["hidden"]])
    ax.minorticks_off()
    top = ax.secondary_xaxis("top")
    top.set_xticks(sizes["hidden"], [str(p) for p in sizes["P"]])
    top.xaxis.set_minor_locator(NullLocator())
    top.set_xlabel("weights P")
    title = f"{bench.get('device_name', bench.get('device', ''))}, batch {bench.get('batch', '?')}"
    ax.legend(fontsize="small", title=title, title_fontsize="small")
    fig.tight_layout()
    return fig
