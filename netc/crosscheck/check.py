"""`netc check`: one spec, one set of random canonical weights, every backend; compare every
node's output (by IR name) and the final one.

Each backend probes its own node values (`Backend.node_values`); the exact reference is the graph
run in float64 by a backend that can (`Backend.float64_values`).
"""
from __future__ import annotations

import numpy as np

from ..backends import DEFAULT_PAIR, Backend, get_backend, installed
from ..compiler.ir import Graph
from ..spec.errors import SpecError
from ..weights import random_weights
from .diff import build_models
from .tolerance import RULE, implementation_bound, local_bound, rounding_noise


def node_values(backend: str | Backend, model, graph: Graph, x: np.ndarray,
                feed: dict | None = None) -> dict[str, np.ndarray]:
    """Every node's output, by IR name, channels-first, for a channels-first input batch `x`.
    With `feed` (IR name -> channels-first value, the input included), each node is computed
    alone from the fed values of its inputs, so an error shows where it is made instead of
    being amplified by every layer after it."""
    impl = get_backend(backend) if isinstance(backend, str) else backend
    return impl.node_values(model, graph, x, feed)


def float64_backend(preferred=()) -> Backend:
    """The first of `preferred` (Backend objects) that computes in float64, else the first
    installed backend that does."""
    for impl in [*preferred, *installed()]:
        if impl.runs_float64:
            return impl
    raise SpecError("netc check needs a backend that computes in float64 for its exact "
                    "reference, and none is installed")


def _batch_statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The batch mean and unbiased batch variance of `x` (N, C, ...) per channel: what a
    momentum-1 update writes to a batch norm's running statistics."""
    axes = (0, *range(2, x.ndim))
    n = x.size // x.shape[1]
    return x.mean(axis=axes), x.var(axis=axes) * n / max(n - 1, 1)


def _normalised(node, x: np.ndarray, weights: dict) -> np.ndarray:
    """A batch norm in inference mode: `x` (N, C, ...) through its running statistics."""
    shape = (1, -1, *[1] * (x.ndim - 2))
    get = lambda p: weights[f"{node.name}.{p}"].astype(np.float64).reshape(shape)
    mean, var = get("running_mean"), get("running_var")
    gamma = get("weight") if f"{node.name}.weight" in weights else 1.0
    beta = get("bias") if f"{node.name}.bias" in weights else 0.0
    return (x - mean) / np.sqrt(var + node.attrs["eps"]) * gamma + beta


def calibrated_weights(graph: Graph, seed: int = 0, batch: int = 4,
                       backend: Backend | None = None, like=None,
                       x: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Random canonical weights whose batch-norm statistics are measured, as a trained
    network's are, on a batch that holds the input `x` the weights will be checked on (if
    given) and random inputs, then perturbed (mean by ~0.1 std, variance by up to 10%) so they
    stay distinct from any batch's statistics.

    Each batch norm is measured on its input in inference mode, every batch norm before it
    already holding its final statistics, so each sees what it will see when checked. Its
    output on the batch, the checked input's included, is then within (N - 1) / sqrt(N) standard
    deviations of the mean (Samuelson's inequality; N: values per channel in the batch) however
    few values that is, so a residual net's activations grow no faster than the number of
    branches summed, as in a trained network. Statistics measured on other inputs than the
    checked one, with batch statistics downstream, let activations grow by a factor per block
    where maps are small (EfficientNet V2-L: to 1e6 over 80 blocks), where float32 rounding
    reaches the size of the output. One float64 run."""
    weights = random_weights(graph, seed)
    norms = {n.name: n for n in graph.nodes if n.op == "batchnorm"}
    if not norms:
        return weights
    rng = np.random.default_rng(seed + 2)
    inputs = rng.standard_normal((batch, *graph.input_shape)).astype(np.float32)
    if x is not None:
        inputs = np.concatenate([x.astype(np.float32), inputs[:max(batch - len(x), 1)]])
    wanted = {n.inputs[0] for n in norms.values()}
    seen = {graph.input_name: inputs.astype(np.float64)}

    def measured(name, value):
        if name in norms:
            node = norms[name]
            mean, var = _batch_statistics(seen[node.inputs[0]])
            weights[f"{name}.running_mean"] = (
                mean + 0.1 * np.sqrt(var) * rng.standard_normal(mean.shape)).astype(np.float32)
            weights[f"{name}.running_var"] = (
                var * rng.uniform(0.9, 1.1, var.shape) + 1e-3).astype(np.float32)
            value = _normalised(node, seen[node.inputs[0]], weights)
        if name in wanted:
            seen[name] = value
        return value

    (backend or float64_backend()).float64_values(graph, weights, inputs, adjust=measured,
                                                  like=like)
    return weights


def exact_values(graph: Graph, weights: dict[str, np.ndarray], x: np.ndarray,
                 noise: dict[str, float] | None = None, seed: int = 0,
                 backend: Backend | None = None, like=None) -> dict[str, np.ndarray]:
    """Every node's value from the graph run in float64. With `noise` (IR name -> bound),
    each node's output is moved by a random sign times its bound before later nodes read it
    (`tolerance.rounding_noise`), a stand-in for float32 rounding. `like`: as
    `Backend.float64_values` takes it."""
    rng = np.random.default_rng(seed)
    adjust = None if noise is None else (
        lambda name, v: v + rounding_noise(noise[name], v.shape, rng))
    return (backend or float64_backend()).float64_values(graph, weights, x, adjust=adjust,
                                                         like=like)


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0


def numeric_check(graph: Graph, backends=DEFAULT_PAIR, seed: int = 0, batch: int = 1,
                  models: dict | None = None) -> dict:
    """Build each backend, load the same random canonical weights (`calibrated_weights`), run
    one input through each, and judge two things by the rule of `tolerance`:

    - `max_abs_error`: every node of every other backend computed alone from the first
      backend's values of its inputs, against the first backend; each must stay within the
      node's `limit` (two float32 implementations of one op). This locates a wrong op exactly.
    - `exact_error`: every backend's whole network end to end against the graph run in float64;
      at the outputs each must stay within `chain_limit`, float32 rounding propagated through this
      network (`final_exact`, `final_limit`).

    `chained_error` (end to end, against the first backend) is shown, with `final`, the outputs'.
    `models` (backend name -> model, as `build_models` returns) saves building them; their
    weights are replaced. Returns the report as plain data."""
    impls = {name: get_backend(name) for name in backends}
    reference64 = float64_backend(impls.values())
    models = models or build_models(graph, backends)
    like = models.get(reference64.name)
    x = np.random.default_rng(seed + 1).standard_normal((batch, *graph.input_shape)).astype(np.float32)
    weights = calibrated_weights(graph, seed, backend=reference64, like=like, x=x)
    ref, others = backends[0], backends[1:]
    for name, impl in impls.items():
        impl.import_weights(models[name], graph, weights)
    chained = {name: impls[name].node_values(models[name], graph, x) for name in backends}
    feed = {graph.input_name: x, **chained[ref]}
    alone = {name: impls[name].node_values(models[name], graph, x, feed) for name in others}
    exact = exact_values(graph, weights, x, backend=reference64, like=like)
    inputs = {n.name: [graph.shape_of(s) for s in n.inputs] for n in graph.nodes}
    scale = {n.name: float(np.max(np.abs(exact[n.name]))) if exact[n.name].size else 0.0
             for n in graph.nodes}
    one = {n.name: implementation_bound(n, inputs[n.name], scale[n.name]) for n in graph.nodes}
    perturbed = exact_values(graph, weights, x, noise=one, seed=seed + 3, backend=reference64,
                             like=like)
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
            "backends": list(backends), "float64_by": reference64.name, "rule": RULE,
            "nodes": rows, "final": final,
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
             f"the reference and against the graph run in float64 (by {report['float64_by']})",
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
