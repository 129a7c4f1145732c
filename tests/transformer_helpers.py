"""What tests/test_vit.py and tests/test_swin.py share: the `transformers` section of
examples/REFERENCES.yaml, the torchvision reference, a small spec beside a copy of its block
library, the comparison at 224 and the check that a bad layer is refused where it stands."""
from __future__ import annotations

import shutil
import textwrap

import pytest
import torch
import torchvision
import yaml

import netc
from conftest import EXAMPLES

REFERENCES = yaml.safe_load((EXAMPLES / "REFERENCES.yaml").read_text())["transformers"]
TOLERANCE = 1e-5  # outputs scaled to about 1, as tests/test_zoo_torchvision.py compares them


def specs(prefix: str, flag: str | None = None) -> list[str]:
    return sorted(s for s in REFERENCES if s.startswith(prefix) and (flag is None
                                                                     or REFERENCES[s][flag]))


def reference(spec: str, device: str = "cpu"):
    with torch.device(device):
        return getattr(torchvision.models, REFERENCES[spec]["builder"])(weights=None)


def load_small(tmp_path, text: str, library: str):
    """A spec written in `tmp_path`, beside a copy of examples/lib/<library>."""
    (tmp_path / "lib").mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / "lib" / library, tmp_path / "lib" / library)
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent(text))
    return netc.load(str(path))


def refused_where_it_stands(tmp_path, shape, layers: str, message: str) -> None:
    """A one-line body of `layers` on an input of `shape` is a SpecError at that line."""
    with pytest.raises(netc.SpecError, match=message) as err:
        load_small(tmp_path, f"""
            netc: 1
            input: {{shape: {list(shape)}}}
            body: [{layers}]
        """, "vit.yaml")
    assert err.value.loc.line == 4


def outputs_match_at_224(spec: str, head, extra=None) -> None:
    """torchvision's layer norms start as the identity and its head at or near zero, which would
    hide a wrong head, a missing norm or a swapped scale and shift: both are drawn anew (and
    `extra(model, generator)` draws whatever else starts at zero), the head scaled so the outputs
    are about 1; then ours, with the reference's state_dict, computes the reference's outputs."""
    torch.manual_seed(0)
    model, ref = netc.build(netc.load(EXAMPLES / spec)), reference(spec)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in ref.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
        last = head(ref)
        last.weight.copy_(torch.randn(last.weight.shape, generator=generator) * 0.05)
        last.bias.copy_(torch.randn(last.bias.shape, generator=generator) * 0.1)
        if extra is not None:
            extra(ref, generator)
        scale = ref.eval()(torch.randn(2, 3, 224, 224, generator=generator)).abs().max()
        last.weight /= scale
        last.bias /= scale
    model.load_state_dict(ref.state_dict(), strict=True)
    model.eval()
    x, other = (torch.randn(1, 3, 224, 224, generator=generator) for _ in range(2))
    with torch.no_grad():
        ours, theirs = model(x), ref(x)
        spread = (theirs - ref(other)).abs().max().item()
    assert spread > 0.01, f"the reference's output hardly depends on its input ({spread:.3g})"
    assert (ours - theirs).abs().max().item() <= TOLERANCE
