import json
from pathlib import Path

import pytest

try:
    # triton (loaded by torch.compile, timm) crashes when it is first imported after TensorFlow;
    # loading it first lets the Keras and torch tests share pytest's processes.
    import triton.runtime.autotuner  # noqa: F401
except ImportError:
    pass

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _reference_file() -> Path:
    for candidate in (ROOT.parent / "shared" / "reference" / "zoo-params.json",
                      ROOT / "tests" / "data" / "zoo-params.json"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("zoo-params.json")


@pytest.fixture(scope="session")
def zoo_params() -> dict:
    return json.loads(_reference_file().read_text())
