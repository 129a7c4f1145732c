"""Op plug-ins (entry-point group `netc.ops`): a package installed beside netc adds ops that
`netc ops`, `validate`, `build` and both backends see, and a broken one is a located error.

Each plug-in is installed as importlib.metadata finds an installed distribution: its module and
a `*.dist-info` folder holding `entry_points.txt` on a sys.path entry. The registry is
process-wide, so every use runs in a fresh interpreter with that entry on PYTHONPATH.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# A plug-in with two ops: mish (Misra 2019: x * tanh(softplus(x))) and scaled_tanh (alpha *
# tanh(x), a typed float attribute rendered through netc's lit).
EXTRA = '''
from netc.compiler.ops import OpDef
from netc.compiler.ops.attr_types import Float
from netc.compiler.ops.schema_types import NUMBER
from netc.backends.render import lit

OPS = [
    OpDef("mish", doc="x * tanh(softplus(x))", args={}, resolve=lambda a, s: {},
          infer=lambda a, s: list(s[0])),
    OpDef("scaled_tanh", doc="alpha * tanh(x)", args={"alpha": NUMBER}, required=("alpha",),
          attrs={"alpha": Float(-100.0, 100.0)},
          resolve=lambda a, s: {"alpha": float(a["alpha"])}, infer=lambda a, s: list(s[0])),
]


def _keras_scaled_tanh(n, ctx):
    inner = f'layers.Activation("tanh", name={lit(ctx.aux("tanh"))})({ctx.args[0]})'
    return f"layers.Rescaling({lit(n.attrs['alpha'])}, name={lit(ctx.name)})({inner})"


EMITTERS = {
    "torch": {
        "mish": lambda n, m, a, inplace: (None, f"F.mish({a[0]})"),
        "scaled_tanh": lambda n, m, a, inplace: (None, f"{lit(n.attrs['alpha'])} * torch.tanh({a[0]})"),
    },
    "keras": {
        "mish": lambda n, ctx: f'layers.Activation("mish", name={lit(ctx.name)})({ctx.args[0]})',
        "scaled_tanh": _keras_scaled_tanh,
    },
}
'''

SPEC = """\
netc: 1
name: plugged
input: {shape: [2, 3, 3]}
body:
  - conv2d: {name: conv, out: 4, kernel: 1}
  - mish: {name: act}
  - scaled_tanh: {name: squash, alpha: 2.5}
  - global_avgpool
  - linear: {name: fc, out: 3}
"""

# Builds the spec on each backend, loads one set of weights, and prints the outputs with the
# weights and input, so the test can compute the expected values itself.
RUN = """
import json, sys
import numpy as np
import netc
from netc.backends import get_backend

graph = netc.load(sys.argv[1])
rng = np.random.default_rng(0)
weights = {f"{n.name}.{p.name}": rng.standard_normal(p.shape).astype(np.float32)
           for n in graph.nodes for p in n.params}
x = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
out = {"x": x.tolist(), "weights": {k: v.tolist() for k, v in weights.items()}}
for name in sys.argv[2:]:
    backend = get_backend(name)
    model = backend.load(backend.emit(graph), graph)
    backend.import_weights(model, graph, weights)
    out[name] = backend.node_values(model, graph, x)[graph.outputs[0]].tolist()
print(json.dumps(out))
"""


def install(root, dist: str, module: str, source: str, entries: list[str]) -> str:
    """A distribution `dist` whose module `module` holds `source`, declaring `entries` in the
    group netc.ops; returns the sys.path entry that holds it."""
    site = root / "site"
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"  # a wheel's spelling
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[netc.ops]\n" + "\n".join(entries) + "\n")
    return str(site)


def run(site: str, *args, script: str | None = None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([site, os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "netc", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def extra(tmp_path):
    site = install(tmp_path, "netc-extra", "netc_extra", EXTRA, ["extra = netc_extra"])
    spec = tmp_path / "plugged.yaml"
    spec.write_text(SPEC)
    return site, spec


def test_plugin_ops_are_listed_validated_and_built(extra):
    site, spec = extra
    listed = run(site, "ops")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line[:1].strip()}
    assert "[plug-in extra]" in lines["mish"] and "[plug-in extra]" in lines["scaled_tanh"]
    assert "plug-in" not in lines["relu"]
    checked = run(site, "validate", str(spec))
    assert checked.returncode == 0, checked.stderr
    assert "27 parameters" in checked.stdout  # conv 2*4+4, fc 4*3+3
    built = run(site, "build", str(spec), "--backend", "torch")
    assert built.returncode == 0, built.stderr
    assert "F.mish(" in built.stdout and "2.5 * torch.tanh(" in built.stdout


def test_plugin_ops_compute_their_definition_on_both_backends(extra):
    site, spec = extra
    result = run(site, str(spec), "torch", "keras", script=RUN)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    w = {k: np.asarray(v, dtype=np.float64) for k, v in out["weights"].items()}
    x = np.asarray(out["x"], dtype=np.float64)
    h = np.einsum("oi,nihw->nohw", w["conv.weight"][:, :, 0, 0], x) + w["conv.bias"][:, None, None]
    h = 2.5 * np.tanh(h * np.tanh(np.log1p(np.exp(h))))
    expected = h.mean((2, 3)) @ w["fc.weight"].T + w["fc.bias"]
    # float32 through dot products of 2-9 terms and two transcendental functions, values of
    # order 10: a few ulps of 10 at each step.
    for backend in ("torch", "keras"):
        np.testing.assert_allclose(np.asarray(out[backend]), expected, rtol=0, atol=1e-4,
                                   err_msg=backend)


def test_spec_cannot_use_an_uninstalled_plugin_op(tmp_path, extra):
    _, spec = extra
    result = run(str(tmp_path), "validate", str(spec))
    assert result.returncode == 2
    assert "unknown op or block 'mish'" in result.stderr and "Traceback" not in result.stderr


BROKEN = {
    "import": ("import netc\nraise RuntimeError('half-installed')\n",
               ["failed to import: RuntimeError: half-installed", "netc_broken.py:2:"]),
    "builtin name": ("from netc.compiler.ops import OpDef\nOPS = [OpDef('relu', args={}, "
                     "resolve=lambda a, s: {}, infer=lambda a, s: list(s[0]))]\n",
                     ["registers the op 'relu', which netc itself already defines",
                      "entry_points.txt:3:"]),
    "twice": ("from netc.compiler.ops import OpDef\nOPS = [OpDef('swoosh', args={}, "
              "resolve=lambda a, s: {}, infer=lambda a, s: list(s[0]))] * 2\n",
              ["registers the op 'swoosh' twice"]),
    "untyped attr": ("from netc.compiler.ops import OpDef\nOPS = [OpDef('swoosh', args={}, "
                     "attrs={'code': str}, resolve=lambda a, s: {'code': 'x'}, "
                     "infer=lambda a, s: list(s[0]))]\n",
                     ["attribute 'code' must have a type from netc.compiler.ops.attr_types"]),
    "loosened type": ("from netc.compiler.ops import OpDef\n"
                      "from netc.compiler.ops.attr_types import Float\n"
                      "class Loose(Float):\n    def problem(self, value):\n        return None\n"
                      "OPS = [OpDef('swoosh', args={}, attrs={'code': Loose()}, "
                      "resolve=lambda a, s: {'code': 'x'}, infer=lambda a, s: list(s[0]))]\n",
                      ["attribute 'code' must have a type from netc.compiler.ops.attr_types"]),
    "foreign emitter": ("from netc.compiler.ops import OpDef\nOPS = [OpDef('swoosh', args={}, "
                        "resolve=lambda a, s: {}, infer=lambda a, s: list(s[0]))]\n"
                        "EMITTERS = {'torch': {'relu': print}}\n",
                        ["names 'relu', which is not one of its ops"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugin_is_a_located_error_naming_it(tmp_path, case):
    source, expected = BROKEN[case]
    site = install(tmp_path, "netc-broken", "netc_broken", source,
                   ["# the broken one", "broken = netc_broken"])
    spec = tmp_path / "plain.yaml"
    spec.write_text("netc: 1\ninput: {shape: [4]}\nbody: [linear: {out: 2}]\n")
    for args in (("validate", str(spec)), ("ops",)):
        result = run(site, *args)
        assert result.returncode == 2, result.stdout
        assert "Traceback" not in result.stderr
        assert "op plug-in 'broken' (entry point broken = netc_broken" in result.stderr
        assert "distribution netc-broken 0.1" in result.stderr
        for text in expected:
            assert text in result.stderr, result.stderr


def test_missing_backend_emitter_names_the_plugin_at_the_layer(tmp_path):
    torch_only = EXTRA.replace('"keras": {', '"keras-disabled": {')
    site = install(tmp_path, "netc-extra", "netc_extra", torch_only, ["extra = netc_extra"])
    spec = tmp_path / "plugged.yaml"
    spec.write_text(SPEC)
    assert run(site, "build", str(spec), "--backend", "torch").returncode == 0
    result = run(site, "build", str(spec), "--backend", "keras")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{spec}:6:5:" in result.stderr  # the line that uses the op
    assert ("act: op 'mish' comes from the plug-in 'extra' (entry point extra = netc_extra"
            in result.stderr)
    assert "gives no emitter for the keras backend" in result.stderr



def test_plugin_attributes_are_checked_before_any_emitter(tmp_path):
    """A plug-in whose resolve writes text where it declared a number is stopped by lint at the
    layer, so the text never reaches its emitter or the emitted source."""
    source = ("from netc.compiler.ops import OpDef\n"
              "from netc.compiler.ops.attr_types import Float\n"
              "OPS = [OpDef('leaky', args={}, attrs={'slope': Float(0.0, 1.0)},\n"
              "             resolve=lambda a, s: {'slope': '0.1); import os'},\n"
              "             infer=lambda a, s: list(s[0]))]\n"
              "EMITTERS = {'torch': {'leaky': lambda n, m, a, i: (None, 'F.leaky_relu(%s, %s)'\n"
              "                                                     % (a[0], n.attrs['slope']))}}\n")
    site = install(tmp_path, "netc-leaky", "netc_leaky", source, ["leaky = netc_leaky"])
    spec = tmp_path / "leaky.yaml"
    spec.write_text("netc: 1\ninput: {shape: [4]}\nbody:\n  - leaky: {name: act}\n")
    for args in (("validate", str(spec)), ("build", str(spec), "--backend", "torch")):
        result = run(site, *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"{spec}:4:5: error: act: leaky attribute 'slope': expected a number" \
            in result.stderr, result.stderr
        assert "import os" not in result.stdout
