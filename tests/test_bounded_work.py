"""Bounded work: what a spec may make netc read and expand. Files that are not regular are never
read, reads stop at the cap, a spec and its includes share one budget, a library shared by many
files is read once, and expansion counts every item it visits."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import netc
from netc.spec import document, expand, loader
from netc.spec.document import load_document, read_source
from netc.spec.errors import Location, SpecError

ROOT = Path(__file__).resolve().parent.parent
HEAD = "netc: 1\ninput: {shape: [3, 8, 8]}\n"
LIB = "netc: 1\nblocks:\n  {name}:\n    body: [relu]\n"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def refused(path, **kwargs) -> SpecError:
    with pytest.raises(SpecError) as info:
        netc.load(path, **kwargs)
    assert info.value.loc is not None and info.value.loc.line >= 1, info.value
    return info.value


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "lib.yaml"
    os.mkfifo(fifo)
    spec = write(tmp_path / "net.yaml", HEAD + "include: [lib.yaml]\nbody: [relu]\n")
    result = {}
    worker = threading.Thread(target=lambda: result.update(error=refused(spec)), daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the reader so the suite can go on, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("reading an include that is a FIFO waited for a writer")
    assert "is not a regular file" in result["error"].message
    assert result["error"].loc == Location(spec, 3, 11)
    with pytest.raises(SpecError, match="is not a regular file"):
        load_document(str(fifo))


def test_devices_and_directories_are_refused_unread(tmp_path):
    for target in ("/dev/zero", str(tmp_path)):
        if not os.path.exists(target):
            continue
        with pytest.raises(SpecError, match="is not a regular file") as info:
            read_source(target, Location("net.yaml", 3, 11))
        assert info.value.loc == Location("net.yaml", 3, 11)


def test_a_read_stops_one_byte_past_the_cap(monkeypatch, tmp_path):
    """A size from stat can lie (procfs reports 0); only a bounded read is a bound."""
    requested = []

    class Endless(io.RawIOBase):
        def read(self, size=-1):
            requested.append(size)
            if size is None or size < 0:
                raise MemoryError("read without a bound")
            return b"a" * size

    real_fdopen = os.fdopen

    def fake_fdopen(fd, *args, **kwargs):
        real_fdopen(fd, *args, **kwargs).close()
        return Endless()

    monkeypatch.setattr(document.os, "fdopen", fake_fdopen)
    path = write(tmp_path / "net.yaml", "netc: 1\n")
    with pytest.raises(SpecError, match="is too large"):
        read_source(path)
    assert requested == [document.MAX_FILE_BYTES + 1]


def test_a_spec_and_its_includes_share_one_byte_budget(monkeypatch, tmp_path):
    monkeypatch.setattr(document, "MAX_FILE_BYTES", 400)
    write(tmp_path / "a.yaml", LIB.format(name="a") + "#" + "x" * 150 + "\n")
    write(tmp_path / "b.yaml", LIB.format(name="b") + "#" + "x" * 150 + "\n")
    spec = write(tmp_path / "net.yaml", HEAD + "include: [a.yaml, b.yaml]\nbody: [a, b]\n")
    error = refused(spec)
    assert "the spec with its includes may hold at most 400 bytes" in error.message
    assert error.loc == Location(spec, 3, 19)  # at b.yaml, the include that goes past


def test_a_spec_and_its_includes_share_one_value_budget(monkeypatch, tmp_path):
    monkeypatch.setattr(loader, "MAX_NODES", 200)
    items = "[" + ", ".join(["relu"] * 95) + "]"
    write(tmp_path / "a.yaml", f"netc: 1\nblocks:\n  a:\n    body: {items}\n")
    write(tmp_path / "b.yaml", f"netc: 1\nblocks:\n  b:\n    body: {items}\n")
    spec = write(tmp_path / "net.yaml", HEAD + "include: [a.yaml, b.yaml]\nbody: [a, b]\n")
    error = refused(spec)
    assert "the spec with its includes expands to more than 200 values" in error.message
    assert error.loc.file.endswith("b.yaml")


def test_an_include_diamond_reads_the_shared_library_once(tmp_path):
    write(tmp_path / "base.yaml", LIB.format(name="unit"))
    write(tmp_path / "left.yaml", "netc: 1\ninclude: [base.yaml]\n")
    write(tmp_path / "right.yaml", "netc: 1\ninclude: [base.yaml]\n")
    spec = write(tmp_path / "net.yaml", HEAD + "include: [left.yaml, right.yaml]\nbody: [unit]\n")
    doc = load_document(spec)
    assert list(doc.blocks) == ["unit"]
    assert sorted(os.path.basename(p) for p in doc.sources) == \
        ["base.yaml", "left.yaml", "net.yaml", "right.yaml"]
    assert [n.op for n in netc.load(spec).nodes] == ["relu"]


def test_a_tower_of_diamonds_is_read_once_per_file(tmp_path):
    """Each level includes the next twice: 2**40 reads had each include been read each time."""
    levels = 40
    write(tmp_path / f"l{levels}.yaml", LIB.format(name="unit"))
    for k in range(levels):
        nxt = f"l{k + 1}.yaml"
        write(tmp_path / f"l{k}.yaml", f"netc: 1\ninclude: [{nxt}, {nxt}]\n")
    spec = write(tmp_path / "net.yaml", HEAD + "include: [l0.yaml]\nbody: [unit]\n")
    doc = load_document(spec)
    assert len(doc.sources) == levels + 2 and list(doc.blocks) == ["unit"]
    assert doc.budget.includes == 2 * levels + 1


def test_include_entries_are_counted_even_when_already_read(tmp_path):
    write(tmp_path / "base.yaml", LIB.format(name="unit"))
    many = ", ".join(["base.yaml"] * (document.MAX_INCLUDES + 1))
    spec = write(tmp_path / "net.yaml", HEAD + f"include: [{many}]\nbody: [unit]\n")
    error = refused(spec)
    assert f"more than {document.MAX_INCLUDES} includes" in error.message


def test_text_given_directly_is_bounded_too(tmp_path):
    with pytest.raises(SpecError, match="larger than 1 MiB"):
        load_document("net.yaml", text="#" * (document.MAX_FILE_BYTES + 1))


@pytest.mark.parametrize("body, work", [
    ("[relu, relu]", 2 * 2 + 1),  # the body, and each item twice: where it stands and its op
    ("[{relu: {when: false}}, relu]", 2 + 1 + 1),  # a skipped item still counts once
    ("[{repeat: {times: 3, body: []}}]", 2 + 1 + 3),  # each empty body counts once
])
def test_expansion_counts_every_item_it_visits(tmp_path, body, work):
    spec = write(tmp_path / "net.yaml", HEAD + f"body: {body}\n")
    expander = expand.Expander(load_document(spec))
    expander.run()
    assert expander.work == work


def test_the_expansion_budget_stops_a_long_network_at_a_located_item(monkeypatch, tmp_path):
    monkeypatch.setattr(expand, "MAX_WORK", 50)
    spec = write(tmp_path / "net.yaml", HEAD + "body:\n" + "  - relu\n" * 30)
    error = refused(spec)
    assert "expands to more than 50 items" in error.message
    assert error.loc == Location(spec, 28, 5)  # the 25th relu: 1 + 2 * 24 = 49, then 51


def test_a_real_network_is_far_inside_the_budget():
    expander = expand.Expander(load_document("examples/resnet1202_cifar.yaml"))
    expander.run()
    assert expander.work * 2 < expand.MAX_WORK


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_the_cli_reports_a_spec_that_is_a_fifo_or_a_device_without_reading_it(tmp_path):
    fifo = tmp_path / "net.yaml"
    os.mkfifo(fifo)
    for target in (str(fifo), "/dev/zero"):
        proc = subprocess.run([sys.executable, "-m", "netc.cli", "validate", target],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"{target}: error: '{target}' is not a regular file")


def test_text_of_multibyte_characters_is_measured_in_bytes():
    with pytest.raises(SpecError, match="larger than 1 MiB"):
        load_document("net.yaml", text="#" + "é" * (document.MAX_FILE_BYTES // 2 + 1))
