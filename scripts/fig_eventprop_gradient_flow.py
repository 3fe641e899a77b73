"""Gradient flow (EventProp study, arXiv 2212.01232): the error signal reaching the hidden layer and the per-step
input-weight gradient over a trial, for loss ``sum`` vs ``sum_weigh_exp``, before and after training. The
"untrained" network is the run's own initialisation (rebuilt from its metrics.json as the notebook built it);
"trained" is the same network with the run's selected weights."""

from pathlib import Path

import pandas as pd
import torch

from spikegrad import analysis, plots, results
from spikegrad.data import load
from spikegrad.data.augment import Transform, apply
from spikegrad.model import LIFParams, NetworkSpec, WeightInit
from spikegrad.network import SNN

BATCH = 32  # test samples analysed (the first ones)


def test_batch(metrics: dict, data_root) -> tuple[torch.Tensor, torch.Tensor, object]:
    """The first ``BATCH`` test samples as the run saw them: raster [T, B, n_in], labels [B], and the split."""
    data = load(metrics["dataset"], "test", root=data_root)
    if metrics.get("preprocess"):
        data = apply(data, [Transform(*t) for t in metrics["preprocess"]])
    cfg, indices = metrics["train_config"], range(min(BATCH, len(data)))
    x = data.to_dense(cfg["dt"], n_steps=cfg["n_steps"], indices=indices, dtype=torch.float32)
    return x, torch.as_tensor(data.labels[list(indices)]), data


def untrained_network(metrics: dict, n_in: int, n_out: int) -> SNN:
    """The run's network at initialisation, built as ``notebooks/train.ipynb`` builds it."""
    net, cfg = metrics["network"], metrics["train_config"]
    spec = NetworkSpec(
        n_in,
        (net["hidden"],),
        n_out,
        net["recurrent"],
        LIFParams(tau_mem=net["tau_mem"], tau_syn=net["tau_syn"], dt=cfg["dt"]),
        net["readout"],
    )
    return SNN(
        spec,
        engine="eventprop",
        hidden_init=WeightInit(*net["hidden_init"]),
        readout_init=WeightInit(*net["readout_init"]),
        recurrent_init=WeightInit(*net["recurrent_init"]),
        seed=metrics["seed"],
    )


def run_flow(weights: Path, expected_loss: str, data_root) -> pd.DataFrame:
    metrics = results.read_json(Path(weights).parent / "metrics.json")
    loss = metrics["train_config"]["loss"]
    if loss != expected_loss:
        raise ValueError(f"{weights} was trained with loss {loss!r}, expected {expected_loss!r}")
    if metrics["engine"] != "eventprop":
        raise ValueError(f"{weights} was trained with engine {metrics['engine']!r}, not eventprop")
    x, labels, data = test_batch(metrics, data_root)
    model = untrained_network(metrics, data.n_units, data.n_classes)
    frames = [analysis.gradient_flow(model, x, labels, loss).assign(state="untrained")]
    model.load_state_dict(results.load_tensors(weights)[0])
    frames.append(analysis.gradient_flow(model, x, labels, loss).assign(state="trained"))
    return pd.concat(frames, ignore_index=True).assign(loss=loss, run_dir=str(Path(weights).parent))


sm = snakemake  # noqa: F821 (injected by Snakemake)
table = pd.concat(
    [
        run_flow(sm.input.sum[0], "sum", sm.params.data_root),
        run_flow(sm.input.shaped[0], "sum_weigh_exp", sm.params.data_root),
    ],
    ignore_index=True,
)
results.write_text(sm.output.table, table.to_csv(index=False))
plots.save(plots.gradient_flow(table), sm.output.figure)
