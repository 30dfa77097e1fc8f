"""Model folders: written as a unit, locked, verified at load, surviving kills mid-write."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from chainrule import training
from chainrule.model_folder import ModelFileError, folder_lock, write_model_folder

pytest.importorskip("safetensors")


def _entries(parent):
    return sorted(os.listdir(parent))


def test_a_rewrite_replaces_every_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "m"
    write_model_folder(out, {"model.json": b"1", "confusion_matrix.png": b"old"})
    write_model_folder(out, {"model.json": b"2"})
    assert _entries(out) == ["model.json"] and (out / "model.json").read_bytes() == b"2"
    assert _entries(tmp_path) == [".m.lock", "m"]


def test_a_callable_writes_its_own_file_and_a_failure_keeps_the_old_folder(tmp_path):
    out = tmp_path / "m"
    write_model_folder(out, {"a": b"old"})

    def explode(path):
        with open(path, "wb") as f:
            f.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_model_folder(out, {"a": b"new", "b": explode})
    assert _entries(out) == ["a"] and (out / "a").read_bytes() == b"old"
    assert _entries(tmp_path) == [".m.lock", "m"]
    write_model_folder(out, {"p": lambda path: open(path, "wb").write(b"drawn")})
    assert (out / "p").read_bytes() == b"drawn"


def test_a_second_writer_fails_clearly_and_stale_temporaries_are_cleaned(tmp_path):
    out = tmp_path / "m"
    (tmp_path / ".m.tmp-999999-dead").mkdir()  # left by a killed writer
    (tmp_path / ".m.tmp-999999-dead" / "model.json").write_bytes(b"x")
    with folder_lock(str(out)):
        code = ("from chainrule.model_folder import write_model_folder as w; "
                f"w({str(out)!r}, {{'a': b'1'}})")  # fmt: skip
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert run.returncode != 0 and "another process is writing" in run.stderr
    write_model_folder(out, {"a": b"1"})
    assert _entries(tmp_path) == [".m.lock", "m"]


def test_an_existing_file_is_not_replaced_by_a_folder(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(NotADirectoryError):
        write_model_folder(tmp_path / "f", {"a": b"1"})
    assert (tmp_path / "f").read_text() == "mine"


_WRITER = """
import sys
from chainrule.model_folder import write_model_folder
big = bytes(8 << 20)
i = 0
while True:
    i += 1
    tag = str(i).encode()
    write_model_folder(sys.argv[1], {"a": tag + big, "b": big + tag, "c": tag})
"""


def test_killed_writers_leave_one_whole_generation(tmp_path):
    """SIGKILL at seeded random moments of a loop of 24 MB folder writes: the folder always
    holds one generation (the three files carry the same tag), and the next writer removes
    what the killed one left behind."""
    out = tmp_path / "m"
    rng = random.Random(0)
    write_model_folder(out, {"a": b"0", "b": b"0", "c": b"0"})
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(out)])
        time.sleep(0.3 + rng.random() * 0.7)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        a, b, c = ((out / n).read_bytes() for n in "abc")
        assert a[: len(c)] == c and b[len(b) - len(c) :] == c
        assert _entries(out) == ["a", "b", "c"]
    write_model_folder(out, {"a": b"done"})
    assert _entries(tmp_path) == [".m.lock", "m"]


def test_killed_training_keeps_the_previous_model(tmp_path):
    out = tmp_path / "model"
    first = training.train("iris", model="logreg", out=out, progress=False, plots=False)
    before = (out / "model.safetensors").read_bytes()
    code = (
        "from chainrule.training import train; "
        f"train('iris', model='mlp', epochs=300, out={str(out)!r}, progress=False)"
    )
    rng = random.Random(1)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(1.0 + rng.random())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        model = training.load_model(out)  # whole: old, or new if the run had finished
        if (out / "model.safetensors").read_bytes() == before:
            assert model.kind == "logreg" and first["accuracy"] > 0.8


def test_a_reader_during_rewrites_sees_one_generation(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    training.train("iris", model="logreg", out=a, progress=False, plots=False)
    training.train("iris", model="mlp", epochs=2, out=b, progress=False, plots=False)
    files = [{n: (src / n).read_bytes() for n in os.listdir(src)} for src in (a, b)]
    out = tmp_path / "live"
    write_model_folder(out, files[0])
    stop = threading.Event()

    def rewrite():
        i = 0
        while not stop.is_set():
            i += 1
            write_model_folder(out, files[i % 2])

    writer = threading.Thread(target=rewrite)
    writer.start()
    kinds = set()
    try:
        for _ in range(150):
            try:
                model = training.load_model(out)
            except FileNotFoundError:
                continue  # between the two renames where the exchange is not supported
            kinds.add(model.kind)
            n_layers = len(model.spec["architecture"]["layer_sizes"])
            assert (model.kind, n_layers) in {("logreg", 2), ("mlp", 3)}
    finally:
        stop.set()
        writer.join()
    assert kinds


def test_load_refuses_tampered_folders(tmp_path):
    out = tmp_path / "m"
    training.train("iris", model="logreg", out=out, progress=False, plots=False)
    spec = json.loads((out / "model.json").read_text())
    weights = (out / "model.safetensors").read_bytes()

    def rewrite(spec_change=None, weights_bytes=None):
        s = json.loads(json.dumps(spec))
        if spec_change:
            spec_change(s)
        (out / "model.json").write_text(json.dumps(s))
        (out / "model.safetensors").write_bytes(weights if weights_bytes is None else weights_bytes)

    cases = [
        (lambda s: s.update(format_version=99), "format_version is 99"),
        (lambda s: s.update(surprise=1), "unknown ['surprise']"),
        (lambda s: s["architecture"].update(layer_sizes=[]), "layer_sizes must be a list"),
        (lambda s: s["architecture"].update(layer_sizes=[4, 10**12]), "layer_sizes must be"),
        (lambda s: s.update(data="x"), "data must be an object"),
        (lambda s: s["target"].update(classes="abc"), "target.classes must be"),
        (lambda s: s["columns"]["features"][0].update(scale=0), "scale must be > 0"),
        (lambda s: s["columns"]["features"][0].update(scale=-2.0), "scale must be > 0"),
        (lambda s: s.update(weights_sha256="0" * 64), "does not belong to"),
    ]
    for change, message in cases:
        rewrite(change)
        with pytest.raises(ModelFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
            training.load_model(out)
    # weights relabelled F32 -> I32 (same bytes, same hash recorded in model.json)
    header_len = int.from_bytes(weights[:8], "little")
    relabelled = weights[:8] + weights[8 : 8 + header_len].replace(b"F32", b"I32") + weights[
        8 + header_len :]  # fmt: skip
    import hashlib

    rewrite(lambda s: s.update(weights_sha256=hashlib.sha256(relabelled).hexdigest()), relabelled)
    with pytest.raises(ModelFileError, match="is int32"):
        training.load_model(out)
    junk = b"not a safetensors file at all"
    rewrite(lambda s: s.update(weights_sha256=hashlib.sha256(junk).hexdigest()), junk)
    with pytest.raises(ModelFileError, match="damaged or not a safetensors file"):
        training.load_model(out)
    (out / "model.json").write_text('{"format_version": NaN}')
    with pytest.raises(ModelFileError, match="not valid JSON"):
        training.load_model(out)
    (out / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        training.load_model(out)


def test_non_finite_weights_are_never_written(tmp_path):
    out = tmp_path / "m"
    training.train("iris", model="logreg", out=out, progress=False, plots=False)
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(training.TrainingDiverged, match="smaller --lr"):
        training.train("iris", model="mlp", lr=1e6, out=out, progress=False, plots=False)
    assert (out / "model.safetensors").read_bytes() == before
    assert np.isfinite(json.loads((out / "metrics.json").read_text())["accuracy"])


def test_write_atomic_removes_temporaries_of_dead_or_ancient_writers(tmp_path):
    from chainrule.io import write_atomic

    dead = tmp_path / ".w.bin.tmp-999999-abc.tmp"  # no process has pid 999999 here
    alive = tmp_path / f".w.bin.tmp-{os.getppid()}-def.tmp"  # a writer still at work
    ancient = tmp_path / f".w.bin.tmp-{os.getppid()}-old.tmp"
    other = tmp_path / ".other.tmp-999999-x.tmp"  # another file's: not ours to judge
    for p in (dead, alive, ancient, other):
        p.write_bytes(b"partial")
    os.utime(ancient, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    write_atomic(tmp_path / "w.bin", b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, other.name, "w.bin"]
    )


def test_a_killed_write_atomic_leaves_nothing_after_the_next_write(tmp_path):
    target = tmp_path / "big.bin"
    code = ("import sys; from chainrule.io import write_atomic\n"
            "while True: write_atomic(sys.argv[1], bytes(64 << 20))")  # fmt: skip
    from chainrule.io import write_atomic

    for delay in (0.4, 0.7, 1.0):
        proc = subprocess.Popen([sys.executable, "-c", code, str(target)])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        write_atomic(target, b"after")
        assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]
        assert target.read_bytes() == b"after"


_CHECKPOINTER = """
import sys
import chainrule as cr
model = cr.nn.Linear(512, 512)
opt = cr.optim.Adam(model.parameters(), lr=0.1)
step = 0
while True:
    step += 1
    model(cr.ones(2, 512)).sum().backward()
    opt.step()
    cr.io.save_checkpoint(sys.argv[1], model=model, optimizer=opt, epoch=step)
    if step == 1:
        print("saved", flush=True)
"""


def test_killed_checkpoint_saves_leave_a_whole_checkpoint(tmp_path):
    import chainrule as cr

    path = tmp_path / "ck.safetensors"
    rng = random.Random(5)
    loads = 0
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", _CHECKPOINTER, str(path)],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout.readline() == "saved\n"  # then kill it at a random later moment
        time.sleep(rng.random() * 0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        model = cr.nn.Linear(512, 512)
        opt = cr.optim.Adam(model.parameters(), lr=0.1)
        info = cr.io.load_checkpoint(path, model=model, optimizer=opt)
        assert info["epoch"] >= 1 and np.isfinite(model.weight.numpy()).all()
        loads += 1
    assert loads == 12
    cr.io.save_checkpoint(path, model=cr.nn.Linear(2, 2))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.safetensors"]
