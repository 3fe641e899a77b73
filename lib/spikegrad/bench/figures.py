"""Figures and the summary table of the performance suite, from the JSON of :mod:`spikegrad.bench.lif_layer`,
:mod:`spikegrad.bench.training_step` and :mod:`spikegrad.bench.event_sim`.

:func:`lif_layer` plots time and peak memory per library against layer size; :func:`training_step` the step time
and memory per engine and the memory over T; :func:`summary` writes the numbers as Markdown tables headed by the
device, date and versions they came from. Style and backend come from :mod:`spikegrad.plots`."""

import matplotlib.pyplot as plt

from spikegrad.plots import fixed_colours, ordered, save, set_style
from spikegrad.results import write_text

LIBRARY_ORDER = ("spikegrad", "snntorch", "norse", "norse_compiled", "spikingjelly", "sinabs")
ENGINE_LABELS = {"bptt": "dense BPTT", "eventprop": "EventProp", "sparse": "sparse SG"}
MB = 1e6


def _measured(result: dict) -> dict[str, dict[int, dict]]:
    """{library: {n: entry}} of the libraries that ran (entries with times)."""
    out: dict[str, dict[int, dict]] = {}
    for n, entries in result["by_size"].items():
        for lib, entry in entries.items():
            if isinstance(entry, dict) and "forward_ms" in entry:
                out.setdefault(lib, {})[int(n)] = entry
    return out


def _not_run(result: dict) -> dict[str, str]:
    """{library: reason} of the libraries that were unavailable or failed at some size."""
    return {
        lib: entry.get("unavailable") or entry["error"]
        for entries in result["by_size"].values()
        for lib, entry in entries.items()
        if isinstance(entry, dict) and ("unavailable" in entry or "error" in entry)
    }


def _header(result: dict) -> str:
    return f"{result['device_name']}, T = {result['T']}, batch {result['B']}"


def lif_layer(result: dict) -> plt.Figure:
    """Forward time, forward + backward time and forward + backward peak memory vs layer size n, one line per
    library (log-log)."""
    set_style()
    measured = _measured(result)
    if not measured:
        raise ValueError("the lif_layer benchmark holds no measured library")
    libraries = ordered(measured, LIBRARY_ORDER)
    colours = fixed_colours(libraries, LIBRARY_ORDER)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = [("forward_ms", "forward (ms)", 1.0), ("forward_backward_ms", "forward + backward (ms)", 1.0),
              ("forward_backward_peak_bytes", "forward + backward peak (MB)", 1 / MB)]  # fmt: skip
    for ax, (key, label, scale) in zip(axes, panels, strict=True):
        for lib in libraries:
            sizes = sorted(measured[lib])
            ax.plot(sizes, [measured[lib][n][key] * scale for n in sizes], "o-", color=colours[lib], label=lib,
                    lw=2.5 if lib == "spikegrad" else 1.2)  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="neurons n (n inputs)", ylabel=label)
        ax.set_xticks(sorted({n for lib in libraries for n in measured[lib]}))
        ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
        ax.minorticks_off()
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Linear + LIF layer: {_header(result)}")
    fig.tight_layout()
    return fig


def training_step(result: dict) -> plt.Figure:
    """Step time and memory (saved activations, peak) per engine at the main T, and BPTT's and EventProp's memory
    against T at a fixed number of input spikes."""
    set_style()
    engines = [e for e in ENGINE_LABELS if e in result]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    labels = [ENGINE_LABELS[e] for e in engines]
    axes[0].bar(labels, [result[e]["step_ms"] for e in engines], color="0.5")
    axes[0].set(ylabel="training step (ms)", title=f"T = {result['T']}, {result['hidden']} recurrent")
    width = 0.4
    for offset, key in ((-width / 2, "saved_bytes"), (width / 2, "peak_bytes")):
        axes[1].bar([i + offset for i in range(len(engines))], [result[e][key] / MB for e in engines], width,
                    label=key.split("_")[0])  # fmt: skip
    axes[1].set_xticks(range(len(engines)), labels)
    axes[1].set(ylabel="memory (MB)", yscale="log")
    axes[1].legend(fontsize=8)
    by_t = result["by_T"]
    if by_t:
        ts = [entry["T"] for entry in by_t]
        for engine, colour in (("bptt", "C0"), ("eventprop", "C1")):
            for key, style in (("saved_bytes", "o-"), ("peak_bytes", "s--")):
                axes[2].plot(ts, [entry[engine][key] / MB for entry in by_t], style, color=colour,
                             label=f"{ENGINE_LABELS[engine]}, {key.split('_')[0]}")  # fmt: skip
        twin = axes[2].twinx()
        twin.plot(ts, [entry["eventprop"]["hidden_spikes_per_neuron"] for entry in by_t], ":", color="0.4")
        twin.set_ylabel("hidden spikes per neuron (dotted)")
        axes[2].set(xscale="log", yscale="log", xlabel="T (steps), the same input spikes", ylabel="memory (MB)")
        axes[2].set_xticks(ts, [str(t) for t in ts])
        axes[2].minorticks_off()
        axes[2].legend(fontsize=7)
    else:
        axes[2].set_axis_off()
    fig.suptitle(f"SHD-sized training step: {result['device_name']}, batch {result['B']}, Δt = {result['dt']} ms")
    fig.tight_layout()
    return fig


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def summary(lif: dict, step: dict, event_sim: dict) -> str:
    """Markdown tables of the three benchmarks, headed by where and when they ran
    (:func:`spikegrad.bench.timing.machine`); the fastest library at each size in bold."""
    v = lif["versions"]
    lines = [f"# Performance suite: {lif['device_name']} ({lif['threads']} threads), {lif['measured_at']}", "",
             f"torch {v['torch']}, numba {v['numba']}, triton {v['triton']}, python {v['python']}, {v['platform']}. "
             f"Medians of {lif['repeats']} timed calls (layer), {step['repeats']} (step).", "",
             f"## Linear + LIF layer ({_header(lif)}), ms", ""]  # fmt: skip
    measured = _measured(lif)
    libraries = ordered(measured, LIBRARY_ORDER)
    sizes = sorted(int(n) for n in lif["by_size"])
    lines += [_row(["n", "pass", *libraries]), _row(["---"] * (2 + len(libraries)))]
    for n in sizes:
        fastest = lif["fastest"][str(n)]
        for key, name in (("forward_ms", "forward"), ("forward_backward_ms", "fwd + bwd")):
            cells = []
            for lib in libraries:
                entry = measured[lib].get(n)
                cell = "—" if entry is None else f"{entry[key]:.1f}"
                cells.append(f"**{cell}**" if lib == fastest.get(key) else cell)
            lines.append(_row([n, name, *cells]))
        peaks = [f"{measured[lib][n]['forward_backward_peak_bytes'] / MB:.0f}" if n in measured[lib] else "—"
                 for lib in libraries]  # fmt: skip
        lines.append(_row([n, "fwd + bwd peak MB", *peaks]))
    not_run = [f"- {lib}: not measured ({reason})" for lib, reason in sorted(_not_run(lif).items())]
    lines += [""] + not_run if not_run else []
    lines += ["", f"## SHD-sized training step (T = {step['T']}, {step['hidden']} recurrent, batch {step['B']}, "
              f"Δt = {step['dt']} ms; {step['device_name']})", "",
              _row(["engine", "step ms", "speedup vs BPTT", "saved MB", "peak MB", "peak ratio vs BPTT"]),
              _row(["---"] * 6)]  # fmt: skip
    for engine in (e for e in ENGINE_LABELS if e in step):
        e = step[engine]
        speedup = step.get(f"{engine}_speedup", 1.0)
        ratio = step.get(f"{engine}_peak_bytes_ratio", 1.0)
        memory = [f"{e['saved_bytes'] / MB:.1f}", f"{e['peak_bytes'] / MB:.1f}"]
        lines.append(_row([ENGINE_LABELS[engine], f"{e['step_ms']:.0f}", f"{speedup:.2f}×", *memory, f"{ratio:.2f}×"]))
    if step["by_T"]:
        lines += ["", "Memory over T with the same input spikes, then silence (MB, saved / peak):", "",
                  _row(["T", "input spikes", "BPTT", "EventProp", "EventProp hidden spikes per neuron"]),
                  _row(["---"] * 5)]  # fmt: skip
        for entry in step["by_T"]:
            b, e = entry["bptt"], entry["eventprop"]
            lines.append(_row([entry["T"], entry["input_spikes"],
                               f"{b['saved_bytes'] / MB:.1f} / {b['peak_bytes'] / MB:.1f}",
                               f"{e['saved_bytes'] / MB:.1f} / {e['peak_bytes'] / MB:.1f}",
                               f"{e['hidden_spikes_per_neuron']:.1f}"]))  # fmt: skip
    lines += ["", f"## Exact event simulation (B = {event_sim['B']}, {event_sim['Q']} input spikes each, "
              f"N = {event_sim['N']}; {event_sim['device_name']})", "",
              _row(["implementation", "device", "ms", "input events/s", "output spikes/s"]),
              _row(["---"] * 5)]  # fmt: skip
    for name in ("kernel", "numba", "reference"):
        if name in event_sim:
            e = event_sim[name]
            lines.append(_row([name, e["device"], f"{e['ms']:.1f}", f"{e['input_events_per_s']:.3g}",
                               f"{e['output_spikes_per_s']:.3g}"]))  # fmt: skip
    return "\n".join(lines) + "\n"


def write(lif: dict, step: dict, event_sim: dict, output) -> None:
    """Save ``output.lif_layer`` and ``output.training_step`` and write the Markdown ``output.summary`` from the
    three benchmark JSON records."""
    save(lif_layer(lif), output.lif_layer)
    save(training_step(step), output.training_step)
    write_text(output.summary, summary(lif, step, event_sim))
