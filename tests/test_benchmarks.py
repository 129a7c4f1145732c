"""The benchmark scripts run (at tiny sizes on the CPU) and print their side-by-side ratios."""
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def run(script, *args):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_train_throughput_tiny():
    text = run("train_throughput.py", "--tiny")
    assert "netc resnet50" in text and "ratio" in text and "netc resnet9" in text
    assert "netc train, whole loop" in text


def test_runtime_tiny():
    assert "ratio" in run("runtime.py", "--size", "32", "--batch", "2", "--steps", "1")


def test_build_time():
    text = run("build_time.py", "1")
    assert "build resnet152" in text and "spec -> IR resnet1202_cifar" in text


def test_gpu_script_refuses_a_machine_without_a_gpu(tmp_path):
    import os

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "CUDA_VISIBLE_DEVICES": ""}  # a machine with a GPU hides it from this run
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), str(tmp_path / "logs")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 1 and "no CUDA GPU" in out.stderr


def test_memory_tiny():
    text = run("memory.py", "--size", "32", "--batch", "1", "--repeats", "1")
    assert "netc" in text and "torchvision" in text and "ratio" in text
