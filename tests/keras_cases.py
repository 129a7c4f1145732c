"""Small specs that together use every registered op, each in the corners where torch and Keras
differ (asymmetric and "same" padding, -inf pool padding, ceil_mode, count_include_pad, uneven
adaptive bins, flatten after a conv, depthwise and grouped convs). Shared by the Keras backend
tests in-process (TensorFlow) and in a KERAS_BACKEND=torch subprocess."""

CASES = {
    "convs": """
netc: 1
name: convs
input: {shape: [4, 13, 11]}
body:
  - conv2d: {name: asym, out: 8, kernel: 3, pad: [0, 2, 1, 0]}
  - conv2d: {name: same_s2, out: 8, kernel: 3, stride: 2, pad: same, bias: false}
  - conv2d: {name: torch_pad_s2, out: 8, kernel: 3, stride: 2, pad: 1}
  - conv2d: {name: dilated, out: 8, kernel: 3, dilation: 2, pad: 2}
  - conv2d: {name: grouped, out: 12, kernel: 3, groups: 4, pad: 1}
  - conv2d: {name: depthwise, out: 24, kernel: 3, groups: 12, pad: 1}
  - conv2d: {name: depthwise1, out: 24, kernel: [1, 3], groups: 24, pad: [0, 1], bias: false}
  - separable_conv2d: {name: separable, out: 24, kernel: 3, pad: [0, 2, 1, 0], bias: true}
  - batchnorm: {name: bn, eps: 0.001, momentum: 0.03}
  - batchnorm: {name: bn_plain, scale: false, center: false}
  - batchnorm: {name: bn_shift, scale: false}
  - batchnorm: {name: bn_scale_only, center: false}
  - relu6
  - flatten: {name: flat}
  - linear: {name: fc, out: 10}
  - batchnorm: {name: bn1d}
  - flatten: {name: flat1d}
  - dropout: {name: drop, p: 0.3}
  - leaky_relu: {name: leaky, slope: 0.2}
  - softmax: {name: prob}
""",
    "pools": """
netc: 1
name: pools
input: {shape: [3, 13, 12]}
body:
  - conv2d: {name: conv, out: 6, kernel: 1}
  - maxpool: {name: max_torch, kernel: 3, stride: 2, pad: 1}
  - avgpool: {name: avg_incl, kernel: 3, stride: 1, pad: 1}
  - avgpool: {name: avg_excl, kernel: 3, stride: 1, pad: 1, count_include_pad: false}
  - maxpool: {name: max_ceil, kernel: 2, stride: 2, ceil_mode: true}
  - avgpool: {name: avg_ceil, kernel: 3, stride: 2, pad: 1, ceil_mode: true, count_include_pad: false}
  - avgpool: {name: avg_ceil_incl, kernel: 2, stride: 2, ceil_mode: true}
  - maxpool: {name: max_same, kernel: 3, stride: 1, pad: same}
  - pad: {name: zpad, pad: [1, 2, 0, 3]}
  - crop_edges: {name: crop, crop: [1, 0, 2, 1]}
  - adaptive_avgpool: {name: adaptive, out: [3, 2]}
  - sigmoid
  - tanh
  - gelu
  - silu
  - hardswish
  - identity
  - flatten
""",
    "merges": """
netc: 1
name: merges
input: {shape: [4, 8, 8]}
body:
  - conv2d: {name: stem, out: 8, kernel: 3, pad: 1}
  - residual:
      name: down
      body: [conv2d: {name: conv, out: 16, kernel: 3, stride: 2, pad: 1}]
      shortcut: zeropad
      drop_path: 0.2
  - parallel:
      name: mix
      branches:
        a: [conv2d: {out: 8, kernel: 1}]
        b: [maxpool: {kernel: 3, stride: 1, pad: 1}]
  - highway:
      name: hw
      body: [conv2d: {out: 24, kernel: 3, pad: 1}, relu]
      gate: [conv2d: {out: 24, kernel: 1}, sigmoid]
  - dag:
      name: se
      nodes:
        - {name: feat, body: [conv2d: {name: conv, out: 24, kernel: 1}]}
        - {name: gate, from: feat, body: [adaptive_avgpool: {out: 1}, conv2d: {name: fc, out: 24, kernel: 1}, sigmoid]}
        - {name: out, from: [feat, gate], merge: mul}
  - residual:
      name: plain
      body: [conv2d: {name: conv, out: 24, kernel: 3, pad: 1}, scale: {name: scale, factor: 0.2}]
      drop_path: 0.1
      drop_path_scale: train
  - global_maxpool: {name: gmax}
""",
    "head": """
netc: 1
name: head
input: {shape: [3, 9, 9]}
body:
  - conv2d: {name: conv, out: 5, kernel: 3, stride: 2}
  - avgpool: {name: avg, kernel: 2}
  - global_avgpool: {name: gap}
  - linear: {name: fc, out: 3, bias: false}
""",
    "modern": """
netc: 1
name: modern
input: {shape: [4, 6, 5]}
body:
  - rescaling: {name: rescale, scale: 0.5, offset: 0.1}
  - normalization: {name: norm}
  - conv2d: {name: conv, out: 8, kernel: 3, pad: 1}
  - layernorm: {name: ln, eps: 1.0e-6}
  - channel_linear: {name: pw, out: 16}
  - hardsigmoid: {name: hsig}
  - layer_scale: {name: gamma, init: 0.5}
  - residual:
      name: res
      body: [stochastic_depth: {name: sd, p: 0.2}]
  - dag:
      name: unit
      nodes:
        - {name: left, body: [channel_split: {name: "", index: 0}]}
        - {name: right, from: input,
           body: [channel_split: {name: split, index: 1}, hardswish: {name: act}]}
        - {name: join, from: [left, right], merge: concat,
           body: [channel_shuffle: {name: shuffle, groups: 4}]}
  - global_avgpool: {name: gap}
  - layernorm: {name: head_norm, scale: true, center: false}
  - linear: {name: fc, out: 5}
""",
    "tokens": """
netc: 1
name: tokens
input: {shape: [3, 12, 10]}
body:
  - conv2d: {name: proj, out: 8, kernel: 4, stride: 4}
  - tokens: {name: tokens}
  - class_token: {name: cls}
  - pos_embedding: {name: pos}
  - layernorm: {name: ln, eps: 1.0e-6}
  - self_attention: {name: attn, heads: 2}
  - linear: {name: mlp, out: 8}
  - select_token: {name: first, index: 0}
  - linear: {name: head, out: 3}
""",
    "windows": """
netc: 1
name: windows
input: {shape: [3, 10, 9]}
body:
  - conv2d: {name: proj, out: 8, kernel: 1}
  - layernorm: {name: ln}
  - window_attention: {name: attn, heads: 2, window: 4}
  - window_attention: {name: shifted, heads: 4, window: [4, 3], shift: [2, 1]}
  - patch_merge: {name: merge}
  - channel_linear: {name: reduction, out: 8, bias: false}
  - global_avgpool: {name: gap}
""",
    "dense": """
netc: 1
name: dense
input: {shape: [3, 7, 6]}
body:
  - conv_transpose2d: {name: up_even, out: 4, kernel: 2, stride: 2}
  - conv_transpose2d: {name: up_odd, out: 5, kernel: 3, stride: 2, output_pad: 1, bias: false}
  - dag:
      name: paths
      nodes:
        - {name: down, body: [maxpool: {name: "", kernel: 3, stride: 3}]}
        - {name: near, from: down, body: [upsample: {name: "", scale: [2, 3]}]}
        - {name: lin, from: down, body: [upsample: {name: "", scale: 2, mode: bilinear}]}
        - {name: back, from: [lin, input], merge: {resize: {mode: bilinear}}}
        - {name: crop, from: [back, near], merge: crop}
        - {name: join, from: [crop, near], merge: concat}
  - conv2d: {name: conv, out: 4, kernel: 3}
""",
}
