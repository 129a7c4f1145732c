"""The initialisation statements at the end of the emitted model's __init__.

Written as torchvision writes its own (`for m in self.modules(): if isinstance(m, nn.Conv2d):
nn.init.kaiming_normal_(...)`): one loop over the modules holds, per module class, the
initialiser most of its nodes declare; a node that declares another gets a line of its own,
reaching its module by IR name. Initialisers that equal what torch's constructor already does
(`default`, batch norm's ones and zeros) are not written, so a spec that declares none emits none.
Ops whose modules are one class share the loop's branch for it (`linear` and `channel_linear` both
build nn.Linear, as torchvision's ConvNeXt initialises every nn.Linear). A class is given to the
loop only when no node of another op constructs it (a plug-in that builds an nn.Linear keeps its
own initialisation); otherwise its nodes are written one by one.

Keras's VarianceScaling (`variance_scaling`) is written as a call of `variance_scaling_`, a
function of the emitted file (VARIANCE_SCALING) that counts a module's fans as Keras counts the
kernel of its layer, treating a convolution whose groups equal its input channels as Keras's
DepthwiseConv2D. A node the IR counts otherwise (a grouped convolution that Keras builds as
Conv2D(groups=C)) is written alone, as the distribution it stands for.
"""
from __future__ import annotations

import math
from collections import Counter

from ...compiler.ir import Graph
from ...compiler.ops.initializers import depthwise_channels, fans, keras_fans, variance_spread
from ..render import lit
from .ops import EMITTERS, INNER_MODULES

# op -> (module classes per input rank, the initialisers torch's constructor applies per param)
_OPS = {
    "conv2d": ({3: "nn.Conv2d"}, {"weight": "default", "bias": "default"}),
    "linear": ({1: "nn.Linear"}, {"weight": "default", "bias": "default"}),
    "channel_linear": ({1: "nn.Linear", 2: "nn.Linear", 3: "nn.Linear"},
                       {"weight": "default", "bias": "default"}),
    "batchnorm": ({3: "nn.BatchNorm2d", 1: "nn.BatchNorm1d"}, {"weight": "ones", "bias": "zeros"}),
    "separable_conv2d": ({3: "SeparableConv2d"}, {"depthwise.weight": "default",
                                                  "pointwise.weight": "default",
                                                  "pointwise.bias": "default"}),
    "window_attention": ({3: "ShiftedWindowAttention"},
                         {f"{layer}.{p}": "default" for layer in ("qkv", "proj")
                          for p in ("weight", "bias")}),
}
# the ops of one loop branch: their modules are of one class and start alike in torch
_FAMILIES = (("conv2d",), ("linear", "channel_linear"), ("batchnorm",), ("separable_conv2d",),
             ("window_attention",))
# IR parameter -> the attribute holding its initialiser
_ATTR = {"weight": "init", "bias": "bias_init", "depthwise.weight": "init",
         "pointwise.weight": "pointwise_init", "pointwise.bias": "bias_init",
         "qkv.weight": "init", "qkv.bias": "bias_init", "proj.weight": "init",
         "proj.bias": "bias_init"}
_KAIMING_DEFAULTS = {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"}


def init_lines(graph: Graph) -> list[str]:
    """Statements (unindented) that initialise the model's parameters; [] when torch's own
    construction already gives what the graph declares."""
    loop: list[tuple[str, list[str]]] = []
    single: list[str] = []
    for family in _FAMILIES:
        nodes = [n for n in graph.nodes if n.op in family]
        if not nodes:
            continue
        op, built = family[0], _OPS[family[0]][1]
        shared = _loop_classes(graph, family, nodes)
        rules = []
        for param in built:
            attr = _ATTR[param]
            having = [n for n in nodes if param in {p.name for p in n.params}]
            if not having:
                continue
            common = _most_common([n.attrs[attr] for n in having]) if shared else None
            if common is not None and not _is_built(common, op, param):
                if len(having) == len(nodes):
                    rules.append(_statement(common, f"m.{param}", None))
                else:  # as torchvision writes it: `if m.bias is not None:`
                    rules += [f"if m.{param} is not None:",
                              "    " + _statement(common, f"m.{param}", None)]
            else:
                common = {"kind": built[param]}
            for node in having:
                init = node.attrs[attr]
                if _key(init) != _key(common) and not (common["kind"] == built[param]
                                                        and _is_built(init, op, param)) \
                        or not _helper_counts_as_ir(node, param):
                    ref = f"self.get_submodule({lit(node.name)}).{param}"
                    single.append(_statement(init, ref, node, node.op, param))
        if rules:
            loop.append((shared, rules))
    lines = []
    if loop:
        lines.append("for m in self.modules():")
        for k, (cls, rules) in enumerate(loop):
            lines.append(f"    {'if' if k == 0 else 'elif'} isinstance(m, {cls}):")
            lines += ["        " + r for r in rules]
    return lines + single


def _loop_classes(graph, family, nodes) -> str | None:
    """The isinstance target for the modules of `family`'s ops, or None when an op outside it
    builds the same class."""
    ranks = [(_OPS[n.op][0], len(graph.shape_of(n.inputs[0]))) for n in nodes]
    used = sorted({classes[rank] for classes, rank in ranks if rank in classes})
    if not used:
        return None
    for node in graph.nodes:
        if node.op in family or node.op not in EMITTERS:
            continue
        ctor, _ = EMITTERS[node.op](node, "m", ["v"] * len(node.inputs), False)
        inner = INNER_MODULES.get((ctor or "").split("(")[0], ())
        if ctor and any(ctor.startswith(c + "(") or c in inner for c in used):
            return None
    return used[0] if len(used) == 1 else "(" + ", ".join(used) + ")"


def _is_built(init: dict, op: str, param: str) -> bool:
    return init["kind"] in ("default", _OPS[op][1][param])


def _key(init: dict) -> tuple:
    return tuple(sorted(init.items()))


def _most_common(inits: list[dict]) -> dict:
    counts = Counter(_key(i) for i in inits)
    best = max(counts.values())
    return next(i for i in inits if counts[_key(i)] == best)


def _helper_counts_as_ir(node, param: str) -> bool:
    """Whether `variance_scaling_` counts the fans of the node's parameter as the IR does."""
    init = node.attrs[_ATTR[param]]
    if init["kind"] != "variance_scaling" or node.op not in ("conv2d", "separable_conv2d"):
        return True
    at = node.attrs
    shape = next(p.shape for p in node.params if p.name == param)
    # the helper's test, 1 < groups == in_channels, on the nn.Conv2d that holds the parameter
    # (a SeparableConv2d's depthwise one has groups = in_channels, its pointwise one 1)
    grouped = (at["groups"] if node.op == "conv2d"
               else at["in_channels"] if param == "depthwise.weight" else 1)
    seen = at["in_channels"] if 1 < grouped == at["in_channels"] else None
    return keras_fans(shape, seen) == keras_fans(shape, depthwise_channels(node.op, at, param))


def init_helpers(graph: Graph) -> list[str]:
    """The functions the initialisation statements call, as source."""
    uses = any(n.attrs.get(attr, {}).get("kind") == "variance_scaling"
               for n in graph.nodes if n.op in _OPS for attr in set(_ATTR.values()))
    return [VARIANCE_SCALING] if uses else []


def _statement(init: dict, tensor: str, node, op: str | None = None, param: str | None = None) -> str:
    kind = init["kind"]
    if kind == "variance_scaling":
        if node is not None and not _helper_counts_as_ir(node, param):
            shape = next(p.shape for p in node.params if p.name == param)
            concrete = variance_spread(init, shape, depthwise_channels(node.op, node.attrs, param))
            return _statement(concrete, tensor, None)
        module = tensor.rpartition(".")[0]
        return (f"variance_scaling_({module}, {lit(init['scale'])}, {lit(init['mode'])}, "
                f"{lit(init['distribution'])})")
    if kind == "default" or (op is not None and kind == _OPS[op][1][param]):
        return _torch_default(tensor, node, op, param)
    if kind in ("zeros", "ones"):
        return f"nn.init.{kind}_({tensor})"
    if kind == "constant":
        return f"nn.init.constant_({tensor}, {lit(init['value'])})"
    if kind == "normal":
        return f"nn.init.normal_({tensor}, {lit(init['mean'])}, {lit(init['std'])})"
    if kind == "trunc_normal":
        return (f"nn.init.trunc_normal_({tensor}, mean={lit(init['mean'])}, std={lit(init['std'])}, "
                f"a={lit(init['a'])}, b={lit(init['b'])})")
    if kind == "uniform":
        return f"nn.init.uniform_({tensor}, {lit(init['low'])}, {lit(init['high'])})"
    if kind.startswith("kaiming"):
        opts = "".join(f", {k}={lit(init[k])}" for k, v in _KAIMING_DEFAULTS.items()
                       if init[k] != v and not (k == "a" and init["nonlinearity"] != "leaky_relu"))
        return f"nn.init.{kind}_({tensor}{opts})"
    gain = f", gain={lit(init['gain'])}" if init["gain"] != 1.0 else ""
    return f"nn.init.{kind}_({tensor}{gain})"  # xavier_normal, xavier_uniform


def _torch_default(tensor: str, node, op: str, param: str) -> str:
    """What torch's constructor does, written out for one node whose class the loop changes."""
    if op == "batchnorm":
        return f"nn.init.{'ones' if param == 'weight' else 'zeros'}_({tensor})"
    if param.endswith("weight"):  # nn.Conv2d and nn.Linear reset_parameters
        return f"nn.init.kaiming_uniform_({tensor}, a={lit(math.sqrt(5.0))})"
    weight = next(p.shape for p in node.params if p.name == param.replace("bias", "weight"))
    bound = 1.0 / math.sqrt(fans(weight)[0])
    return f"nn.init.uniform_({tensor}, {lit(-bound)}, {lit(bound)})"


VARIANCE_SCALING = '''

def variance_scaling_(module, scale, mode, distribution):
    """keras.initializers.VarianceScaling on module.weight: variance scale / n, n the fan that
    mode names (fan_avg: their mean), fans counted on Keras's kernel of the module's layer:
    torch's count for Dense and Conv2D, and a depthwise convolution's (groups == in_channels) as
    DepthwiseConv2D's kernel (kh, kw, C, M): fan_in C * kh * kw, fan_out M * kh * kw."""
    weight = module.weight
    receptive = weight[0][0].numel()
    fan_in, fan_out = weight.size(1) * receptive, weight.size(0) * receptive
    if isinstance(module, nn.Conv2d) and 1 < module.groups == module.in_channels:
        fan_in, fan_out = module.in_channels * receptive, fan_out // module.in_channels
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, n)
    if distribution == "truncated_normal":  # cut at two std, widened to keep the variance
        std = variance ** 0.5 / 0.87962566103423978
        with torch.no_grad():  # inverse CDF of a normal cut at +-2: erf(2 / sqrt(2)) = 0.9545
            weight.uniform_(-0.9544997361036416, 0.9544997361036416).erfinv_().mul_(std * 2 ** 0.5)
    elif distribution == "untruncated_normal":
        nn.init.normal_(weight, 0.0, variance ** 0.5)
    else:
        limit = (3.0 * variance) ** 0.5
        nn.init.uniform_(weight, -limit, limit)
'''
