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
from .tolerance import RULE, implementation_bound, local_bound, rounding_noise


def _torch_values(model, graph: Graph, x: np.ndarray, feed=None, hook=None) -> dict[str, np.ndarray]:
    """With `hook(name, value) -> value`, each node's value passes through it before any later
    node reads it."""
    import torch

    from ..backends.torch.emit import module_ref
    from ..backends.torch.ops import EMITTERS

    lines = []
    for node in graph.nodes:
        args = [f"src[{s!r}]" for s in node.inputs]
        _, expr = EMITTERS[node.op](node, module_ref(node.name), args, False)
        lines.append(f"    val[{node.name!r}] = hook({node.name!r}, {expr})")
    source = ("import torch\nimport torch.nn.functional as F\n\n\ndef replay(self, val, src, hook):\n"
              + "\n".join(lines) + "\n    return val\n")
    replay = load_source(source, f"netc_replay_{graph.content_hash()}").replay
    model.eval()
    val = {graph.input_name: torch.from_numpy(x)}
    src = val if feed is None else {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feed.items()}
    with torch.no_grad():
        out = replay(model, val, src, hook or (lambda name, value: value))
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


def exact_values(graph: Graph, weights: dict[str, np.ndarray], x: np.ndarray,
                 noise: dict[str, float] | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Every node's value from the torch graph run in float64. With `noise` (IR name -> bound),
    each node's output is moved by a random sign times its bound before later nodes read it
    (`tolerance.rounding_noise`), a stand-in for float32 rounding."""
    import torch

    impl = get_backend("torch")
    model = impl.load(impl.emit(graph), graph)
    impl.import_weights(model, graph, weights)
    model.double()
    rng = np.random.default_rng(seed)
    hook = None if noise is None else (
        lambda name, v: v + torch.from_numpy(rounding_noise(noise[name], tuple(v.shape), rng)))
    return _torch_values(model, graph, x.astype(np.float64), hook=hook)


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0


def numeric_check(graph: Graph, backends=("torch", "keras"), seed: int = 0, batch: int = 1) -> dict:
    """Build each backend, load the same random canonical weights (`calibrated_weights`), run
    one input through each, and judge two things by the rule of `tolerance`:

    - `max_abs_error`: every node of every other backend computed alone from the first
      backend's values of its inputs, against the first backend; each must stay within the
      node's `limit` (two float32 implementations of one op). This locates a wrong op exactly.
    - `exact_error`: every backend's whole network end to end against the graph run in float64;
      at the outputs each must stay within `chain_limit`, float32 rounding propagated through this
      network (`final_exact`, `final_limit`).

    `chained_error` (end to end, against the first backend) is shown, with `final`, the outputs'.
    Returns the report as plain data."""
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
    exact = exact_values(graph, weights, x)
    inputs = {n.name: [graph.shape_of(s) for s in n.inputs] for n in graph.nodes}
    scale = {n.name: float(np.max(np.abs(exact[n.name]))) if exact[n.name].size else 0.0
             for n in graph.nodes}
    one = {n.name: implementation_bound(n, inputs[n.name], scale[n.name]) for n in graph.nodes}
    perturbed = exact_values(graph, weights, x, noise=one, seed=seed + 3)
    rows = []
    for node in graph.nodes:
        name = node.name
        rows.append({"name": name, "op": node.op, "scale": scale[name],
                     "limit": local_bound(node, inputs[name], scale[name]),
                     "max_abs_error": {b: _max_abs(alone[b][name], chained[ref][name]) for b in others},
                     "chained_error": {b: _max_abs(chained[b][name], chained[ref][name]) for b in others},
                     "exact_error": {b: _max_abs(chained[b][name], exact[name]) for b in backends},
                     "chain_limit": _max_abs(perturbed[name], exact[name])})
    outs = [r for r in rows if r["name"] in graph.outputs]
    final = {b: max(r["chained_error"][b] for r in outs) for b in others}
    final_exact = {b: max(r["exact_error"][b] for r in outs) for b in backends}
    final_limit = min(r["chain_limit"] for r in outs)
    worst = max((e for r in rows for e in r["max_abs_error"].values()), default=0.0)
    failed = [r["name"] for r in rows if max(r["max_abs_error"].values(), default=0.0) > r["limit"]]
    drifted = [b for b in backends if any(r["exact_error"][b] > r["chain_limit"] for r in outs)]
    return {"name": graph.name, "input": [batch, *graph.input_shape], "reference": ref,
            "backends": list(backends), "rule": RULE, "nodes": rows, "final": final,
            "final_exact": final_exact, "final_limit": final_limit, "worst": worst,
            "worst_ratio": max((max(r["max_abs_error"].values(), default=0.0) / r["limit"]
                                for r in rows if r["limit"] > 0), default=0.0),
            "failed": failed, "drifted": drifted, "ok": not failed and not drifted}


def check_text(report: dict) -> str:
    others, everyone = report["backends"][1:], report["backends"]
    head = ["node", "op", "max |value|", *(f"alone: err ({b})" for b in others), "alone: limit",
            *(f"chained: err ({b})" for b in others),
            *(f"vs float64 ({b})" for b in everyone), "chain limit"]
    rows = [[r["name"], r["op"], f"{r['scale']:.3g}",
             *(f"{r['max_abs_error'][b]:.2e}" + (" <-" if r["max_abs_error"][b] > r["limit"] else "")
               for b in others),
             f"{r['limit']:.2e}",
             *(f"{r['chained_error'][b]:.2e}" for b in others),
             *(f"{r['exact_error'][b]:.2e}" for b in everyone),
             f"{r['chain_limit']:.2e}"] for r in report["nodes"]]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    shape = "x".join(map(str, report["input"]))
    lines = [f"{report['name']}: input {shape}, {report['reference']} as reference; max abs error of "
             "each node computed alone from the reference's inputs, and of the whole chain against "
             f"the reference and against the graph run in float64",
             fmt(head), "  ".join("-" * w for w in widths), *map(fmt, rows), ""]
    for b in others:
        lines.append(f"final output, {b} vs {report['reference']}, end to end: "
                     f"max abs error {report['final'][b]:.2e}")
    for b in everyone:
        lines.append(f"final output, {b} vs float64, end to end: max abs error "
                     f"{report['final_exact'][b]:.2e} (limit {report['final_limit']:.2e})"
                     + ("  <- DRIFTED" if b in report["drifted"] else ""))
    if report["ok"]:
        verdict = "ok"
    elif report["failed"]:
        verdict = f"FAILED at {len(report['failed'])} nodes, first {report['failed'][0]}"
    else:
        verdict = f"FAILED end to end: {', '.join(report['drifted'])} beyond float32 rounding"
    lines.append(f"{verdict}: worst node error {report['worst']:.2e}, "
                 f"{report['worst_ratio']:.2g} of its limit")
    lines.append(f"rule: {report['rule']}")
    return "\n".join(lines)
