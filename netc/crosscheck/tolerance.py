"""How far two float32 implementations of the same graph may drift apart: the one rule that
`netc check` judges by, derived from float32 rounding rather than chosen.

Node alone (same float32 inputs into both backends). Each output element of a node is a sum of
K products (K: the node's multiply-adds per output element, its pooling window, its reduction
ratio or its number of inputs, whichever is largest) followed by a few element-wise roundings
(batch norm's subtract, scale and shift, an rsqrt or a library activation). In any summation
order, blocked or not, recursive summation errs by at most gamma_K * sum|terms| with
gamma_K ~ K*u, u = 2**-24 (Higham, Accuracy and Stability of Numerical Algorithms, 3.1); the
probabilistic form (Higham and Mary, SIAM J. Sci. Comput. 2019) replaces K*u by
LAMBDA*sqrt(K)*u. Terms of incoherent signs (random weights) sum to about sqrt(K) times a
single term, so sum|terms| <~ sqrt(K)*max|y|, and one implementation errs by about

    LAMBDA * u * (K + ELEMENTWISE) * max|y|

per element; two implementations (and the rules of Winograd or FFT convolution, whose extra
error is a small constant factor) are covered by twice that, `local_bound`. A wrong weight, a
transposed kernel or a different batch-norm epsilon moves outputs by far more: a single
perturbed kernel element already by ~1/sqrt(K) of the node's scale, against ~K*u here.

End to end (each backend's whole chain against a float64 run of the torch graph). Every node
adds its own rounding, and the rest of the network amplifies or damps it (a plain 56-layer net
amplifies; normalisation damps): to first order the output error is the sum of each node's
rounding times the network's Jacobian from that node on. That amplification belongs to the
network and its input, so it is measured rather than assumed: `chain_bounds` runs the graph in
float64 once more with every node's output moved by a random sign times its one-implementation
bound, and the resulting deviation at each node bounds what float32 rounding (of the same
linearised network, with per-element errors smaller than the injected ones) can reach there.
The rule depends on no machine: AMD and Intel kernels, oneDNN or MKL, round within it.
"""
from __future__ import annotations

import math

import numpy as np

UNIT_ROUNDOFF = 2.0 ** -24  # float32
LAMBDA = 4.0  # probabilistic rounding-error bound's confidence factor (Higham and Mary 2019)
ELEMENTWISE = 4  # roundings of an element-wise tail: subtract, scale, shift, rsqrt / activation


def accumulation_length(node, input_shapes: list[list[int]]) -> int:
    """How many terms each output element of `node` sums: its multiply-adds per output element
    (conv, linear), its pooling window, its reduction ratio (global pooling, adaptive pooling)
    or its number of inputs (add, concat), whichever is largest."""
    out = max(1, math.prod(node.shape))
    terms = [1, len(node.inputs), -(-int(node.macs) // out)]
    kernel = node.attrs.get("kernel")
    if isinstance(kernel, (list, tuple)) and node.op != "conv2d":
        terms.append(math.prod(kernel))
    terms += [math.prod(s) // out for s in input_shapes]
    return max(terms)


def implementation_bound(node, input_shapes: list[list[int]], scale: float) -> float:
    """Largest max-abs error one float32 implementation is expected to make at `node` from exact
    inputs, for outputs of largest magnitude `scale`."""
    k = accumulation_length(node, input_shapes)
    return LAMBDA * UNIT_ROUNDOFF * (k + ELEMENTWISE) * scale


def local_bound(node, input_shapes: list[list[int]], scale: float) -> float:
    """Largest max-abs difference allowed between two float32 implementations of `node` on the
    same inputs: both implementations' bounds."""
    return 2.0 * implementation_bound(node, input_shapes, scale)


def rounding_noise(bound: float, shape, rng: np.random.Generator) -> np.ndarray:
    """A float32-rounding stand-in for the float64 run: each element moved by +-`bound`."""
    return bound * rng.choice(np.array([-1.0, 1.0]), size=shape)


RULE = (f"node alone: 2 * {LAMBDA:g} * u * (K + {ELEMENTWISE}) * max|value|, u = 2^-24, K = terms "
        "summed per output element; end to end: each backend within the float64 run's deviation "
        "when every node is moved by half its node bound")
