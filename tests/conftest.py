import json
import os
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

# `make test` runs one pytest worker per core. Each worker's torch, MKL and TensorFlow would
# otherwise start a thread per core, and the oversubscribed pools spin against each other: a small
# convolution ran 5-10x slower. Set before any framework is imported; a subprocess inherits it.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                 "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(_var, _threads)

try:
    # triton (loaded by torch.compile, timm) crashes when it is first imported after TensorFlow;
    # loading it first lets the Keras and torch tests share pytest's processes.
    import triton.runtime.autotuner  # noqa: F401
except ImportError:
    pass

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOT_SPECS = {"lib", "recipes"}  # folders of examples/ that hold block libraries and recipes


# Files whose tests share nothing but slow, independent builds: `make test` (--dist loadgroup)
# spreads them test by test over the workers. Every other file runs on one worker, in order,
# because its tests share module-scoped fixtures (a trained run, a built reference model).
SPREAD = {"test_zoo_backends.py", "test_zoo_torchvision.py"}
# Files whose tests share one module-scoped fixture per zoo spec (the reference built, its weight
# files written): spread spec by spec, each spec's tests on one worker.
BY_CASE = {"test_zoo_keras.py": "case", "test_keras_weight_files.py": "saved"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SPREAD:
            continue
        group = item.path.relative_to(ROOT).as_posix()
        params = item.callspec.params if hasattr(item, "callspec") else {}
        if BY_CASE.get(item.path.name) in params:  # a spec, or a tuple that starts with it
            case = params[BY_CASE[item.path.name]]
            # xdist reads a group only if no "]" follows its "@"
            group += f"::{case[0] if isinstance(case, tuple) else case}"
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_finish(session):
    """Under `--dist loadgroup`, pytest-xdist tags each test's id with its group; a pytest that
    keeps the id elsewhere leaves it untagged, and every module's fixtures are built twice."""
    grouped = [i for i in session.items if i.get_closest_marker("xdist_group")]
    if getattr(session.config.option, "loadgroup", False) and any("@" not in i.nodeid for i in grouped):
        raise pytest.UsageError("pytest-xdist could not group the tests: install the pytest that "
                                "pyproject.toml's dev extra names")


def example_specs() -> list[str]:
    """Every network spec under examples/, as a path relative to it."""
    return sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.yaml")
                  if not NOT_SPECS & set(p.relative_to(EXAMPLES).parts)
                  and p.name != "REFERENCES.yaml")


def _reference_file() -> Path:
    for candidate in (ROOT.parent / "shared" / "reference" / "zoo-params.json",
                      ROOT / "tests" / "data" / "zoo-params.json"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("zoo-params.json")


@pytest.fixture(scope="session")
def zoo_params() -> dict:
    return json.loads(_reference_file().read_text())


@contextmanager
def deadline(seconds: int):
    """Fail a case that runs too long instead of letting the suite hang (SIGALRM; POSIX)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
