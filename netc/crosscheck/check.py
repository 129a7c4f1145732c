"""`netc check`: one spec, one set of random canonical weights, every backend; compare every
node's output (by IR name) and the final one.

torch's node values come from a replay of the graph emitted with the torch backend's own op
emitters over the live module tree, one variable per node (no in-place ops); Keras's from a
multi-output model over the layer that carries each node's name.
"""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..backends.base import load_source
from ..compiler.ir import Graph
from ..weights import random_weights

# float32: max abs error 1e-4 for values of magnitude up to 1; above, 1e-4 of the node's largest
# |value| (a deep residual stream reaches tens, where rounding alone is ~1e-6 of it per layer).
TOLERANCE = 1e-4


def _torch_values(model, graph: Graph, x: np.ndarray, feed=None) -> dict[str, np.ndarray]:
    import torch

    from ..backends.torch.emit import module_ref
    from ..backends.torch.ops import EMITTERS

    lines = []
    for node in graph.nodes:
        args = [f"src[{s!r}]" for s in node.inputs]
        _, expr = EMITTERS[node.op](node, module_ref(node.name), args, False)
        lines.append(f"    val[{node.name!r}] = {expr}")
    source = ("import torch\nimport torch.nn.functional as F\n\n\ndef replay(self, val, src):\n"
              + "\n".join(lines) + "\n    return val\n")
    replay = load_source(source, f"netc_replay_{graph.content_hash()}").replay
    model.eval()
    val = {graph.input_name: torch.from_numpy(x)}
    src = val if feed is None else {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feed.items()}
    with torch.no_grad():
        out = replay(model, val, src)
    return {k: v.numpy() for k, v in out.items() if k != graph.input_name}


def _keras_values(model, graph: Graph, x: np.ndarray, feed=None) -> dict[str, np.ndarray]:
    import keras

    from ..backends.keras import keras_name

    tensors = {graph.input_name: model.input}
    tensors.update({n.name: model.get_layer(keras_name(n.name)).output for n in graph.nodes})
    if feed is None:
        names = [n.name for n in graph.nodes]
        outs = keras.Model(model.input, [tensors[n] for n in names])(_channels_last(x), training=False)
        return {n: _channels_first(keras.ops.convert_to_numpy(v)) for n, v in zip(names, outs)}
    out = {}
    for node in graph.nodes:  # each node's layers alone, on the fed values of its inputs
        sources = list(dict.fromkeys(node.inputs))
        alone = keras.Model([tensors[s] for s in sources], tensors[node.name])
        value = alone([_channels_last(feed[s]) for s in sources], training=False)
        out[node.name] = _channels_first(keras.ops.convert_to_numpy(value))
    return out


def _channels_first(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2) if a.ndim == 4 else a


def _channels_last(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)) if a.ndim == 4 else a


NODE_VALUES = {"torch": _torch_values, "keras": _keras_values}


def node_values(backend: str, model, graph: Graph, x: np.ndarray, feed: dict | None = None
                ) -> dict[str, np.ndarray]:
    """Every node's output, by IR name, channels-first, for a channels-first input batch `x`.
    With `feed` (IR name -> channels-first value, the input included), each node is computed
    alone from the fed values of its inputs, so an error shows where it is made instead of
    being amplified by every layer after it."""
    return NODE_VALUES[backend](model, graph, x, feed)


def calibrated_weights(graph: Graph, seed: int = 0, batch: int = 4) -> dict[str, np.ndarray]:
    """Random canonical weights whose batch-norm statistics are measured on a random batch and
    then perturbed (mean by ~0.1 std, variance by up to 10%). Purely random statistics let a
    deep residual net's activations grow to 1e4 and more, where float32 rounding alone exceeds
    any tolerance; measured ones keep activations within tens, as in a trained network, and
    the perturbation keeps them distinct from batch statistics.
    Measured with the torch backend in training mode with momentum 1 (running = batch statistic)."""
    import torch

    weights = random_weights(graph, seed)
    norms = [n for n in graph.nodes if n.op == "batchnorm"]
    if not norms:
        return weights
    impl = get_backend("torch")
    model = impl.load(impl.emit(graph), graph)
    impl.import_weights(model, graph, weights)
    model.eval()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.train()
            module.momentum = 1.0
    rng = np.random.default_rng(seed + 2)
    x = rng.standard_normal((batch, *graph.input_shape)).astype(np.float32)
    with torch.no_grad():
        model(torch.from_numpy(x))
    measured = impl.export_weights(model, graph)
    for node in norms:
        mean, var = f"{node.name}.running_mean", f"{node.name}.running_var"
        shape = measured[mean].shape
        weights[mean] = (measured[mean] + 0.1 * np.sqrt(measured[var]) * rng.standard_normal(shape)
                         ).astype(np.float32)
        weights[var] = (measured[var] * rng.uniform(0.9, 1.1, shape) + 1e-3).astype(np.float32)
    return weights


def numeric_check(graph: Graph, backends=("torch", "keras"), seed: int = 0, batch: int = 1,
                  tolerance: float = TOLERANCE) -> dict:
    """Build each backend, load the same random canonical weights (`calibrated_weights`), run
    one input through each, and compare every node with the first backend's in two ways:
    `max_abs_error`, the node computed alone from the reference's values of its inputs (what
    passes or fails: it locates a wrong op exactly), and `chained_error`, the whole network run
    end to end (float32 rounding grows with depth in a random deep network, so it is shown, with
    the final output's, but not judged). Returns the report as plain data."""
    weights = calibrated_weights(graph, seed)
    x = np.random.default_rng(seed + 1).standard_normal((batch, *graph.input_shape)).astype(np.float32)
    ref, others = backends[0], backends[1:]
    models = {}
    for name in backends:
        impl = get_backend(name)
        models[name] = impl.load(impl.emit(graph), graph)
        impl.import_weights(models[name], graph, weights)
    chained = {name: node_values(name, models[name], graph, x) for name in backends}
    feed = {graph.input_name: x, **chained[ref]}
    alone = {name: node_values(name, models[name], graph, x, feed) for name in others}
    rows = []
    for node in graph.nodes:
        a = chained[ref][node.name]
        gap = lambda v: float(np.max(np.abs(a - v[node.name]))) if a.size else 0.0
        scale = float(np.max(np.abs(a))) if a.size else 0.0
        rows.append({"name": node.name, "op": node.op, "scale": scale,
                     "max_abs_error": {b: gap(alone[b]) for b in others},
                     "chained_error": {b: gap(chained[b]) for b in others},
                     "limit": tolerance * max(1.0, scale)})
    final = {b: max(r["chained_error"][b] for r in rows if r["name"] in graph.outputs) for b in others}
    worst = max((e for r in rows for e in r["max_abs_error"].values()), default=0.0)
    failed = [r["name"] for r in rows if max(r["max_abs_error"].values(), default=0.0) > r["limit"]]
    return {"name": graph.name, "input": [batch, *graph.input_shape], "reference": ref,
            "backends": list(backends), "tolerance": tolerance, "nodes": rows, "final": final,
            "worst": worst, "failed": failed, "ok": not failed}


def check_text(report: dict) -> str:
    others = report["backends"][1:]
    head = ["node", "op", "max |value|", *(f"alone: err ({b})" for b in others),
            *(f"chained: err ({b})" for b in others)]
    rows = [[r["name"], r["op"], f"{r['scale']:.3g}",
             *(f"{r['max_abs_error'][b]:.2e}" + (" <-" if r["max_abs_error"][b] > r["limit"] else "")
               for b in others),
             *(f"{r['chained_error'][b]:.2e}" for b in others)] for r in report["nodes"]]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    shape = "x".join(map(str, report["input"]))
    lines = [f"{report['name']}: input {shape}, {report['reference']} as reference; max abs error of "
             "each node computed alone from the reference's inputs, and of the whole chain",
             fmt(head), "  ".join("-" * w for w in widths), *map(fmt, rows), ""]
    for b in others:
        lines.append(f"final output, {b} vs {report['reference']}, end to end: "
                     f"max abs error {report['final'][b]:.2e}")
    verdict = "ok" if report["ok"] else f"FAILED at {len(report['failed'])} nodes, first {report['failed'][0]}"
    lines.append(f"{verdict}: worst node error {report['worst']:.2e} (tolerance {report['tolerance']:.0e}, "
                 "times the node's max |value| where that exceeds 1)")
    return "\n".join(lines)
