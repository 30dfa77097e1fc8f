"""chainrule.io: safetensors save/load, checkpoints that resume bit for bit, atomic writes, and a
clear error (never code execution) for every kind of bad file."""

from __future__ import annotations

import json
import os
import pickle
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import io

pytest.importorskip("safetensors")


# ------------------------------------------------------------------------------ save / load
def test_round_trip_dtypes_and_shapes(tmp_path):
    path = tmp_path / "w.safetensors"
    state = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f64": np.array(np.pi),
        "f16": np.array([1.5, -2.0], dtype=np.float16),
        "i64": np.arange(-3, 3),
        "u8": np.arange(4, dtype=np.uint8),
        "bool": np.array([True, False]),
        "empty": np.zeros((0, 5)),
        "strided": np.arange(12.0).reshape(3, 4)[:, ::2],
        "tensor": cr.tensor([1.0, 2.0], requires_grad=True),
    }
    io.save(state, path)
    loaded = io.load(path)
    assert set(loaded) == set(state)
    for key, value in state.items():
        expected = value.numpy() if isinstance(value, cr.Tensor) else value
        assert loaded[key].dtype == expected.dtype and loaded[key].shape == expected.shape
        np.testing.assert_array_equal(loaded[key], expected)
    assert loaded["tensor"].flags.writeable


def test_metadata_round_trip(tmp_path):
    path = tmp_path / "w.safetensors"
    io.save({"w": np.ones(2)}, str(path), metadata={"author": "me", "step": "3"})
    assert io.load_metadata(path) == {"author": "me", "step": "3"}


def test_model_weights_round_trip(tmp_path):
    path = tmp_path / "model.safetensors"
    a = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    b = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    io.save(a.state_dict(), path)
    b.load_state_dict(io.load(path))
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(pa.numpy(), pb.numpy()), name


def test_save_argument_errors(tmp_path):
    path = tmp_path / "w.safetensors"
    with pytest.raises(TypeError, match="io.save: 'w' has dtype <U1, which safetensors cannot"):
        io.save({"w": np.array(["a"])}, path)
    # (int keys and lists are nested state, saved since issue 9: tests/test_pytorch_spellings.py)
    with pytest.raises(TypeError, match="io.save: cannot store state/w/0 of type object"):
        io.save({"w": [object()]}, path)
    with pytest.raises(TypeError, match="expected a mapping of names to arrays"):
        io.save([np.ones(1)], path)
    with pytest.raises(TypeError, match="metadata must be a mapping of str to str"):
        io.save({"w": np.ones(1)}, path, metadata={"step": 3})
    assert not path.exists()


def test_missing_safetensors_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[io\]"'):
        io.save({"w": np.ones(1)}, tmp_path / "w.safetensors")
    with pytest.raises(ImportError, match=r'pip install "chainrule\[io\]"'):
        io.load(tmp_path / "w.safetensors")


# ------------------------------------------------------------------------------ bad files
class Explode:
    """Unpickling this would create a marker file: proof that a loader ran code."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def valid_bytes(tmp_path) -> bytes:
    path = tmp_path / "valid.safetensors"
    io.save({"a": np.arange(10.0), "b": np.ones((3, 3), dtype=np.float32)}, path)
    return path.read_bytes()


def bad_files(tmp_path) -> dict[str, bytes]:
    good = valid_bytes(tmp_path)
    Explode.marker = str(tmp_path / "EXPLODED")
    header_len = int.from_bytes(good[:8], "little")
    flipped = bytearray(good)
    flipped[8 + header_len // 2] ^= 0xFF  # corrupt a byte inside the JSON header
    return {
        "empty": b"",
        "short": b"\x01\x02\x03",
        "random": np.random.default_rng(0).bytes(4096),
        "pickle": pickle.dumps(Explode()),
        "json": json.dumps({"w": [1.0, 2.0]}).encode(),
        "truncated": good[: len(good) - 7],
        "truncated header": good[: 8 + header_len // 2],
        "corrupted header": bytes(flipped),
        "huge header length": (2**62).to_bytes(8, "little") + good[8:],
    }


def test_bad_files_give_clear_errors(tmp_path):
    for kind, data in bad_files(tmp_path).items():
        path = tmp_path / f"bad_{kind.replace(' ', '_')}.safetensors"
        path.write_bytes(data)
        for loader in (io.load, io.load_metadata):
            with pytest.raises(ValueError, match="is not a valid safetensors file") as exc:
                loader(path)
            assert str(path) in str(exc.value), kind
        with pytest.raises(ValueError, match="is not a valid safetensors file"):
            io.load_checkpoint(path, cr.nn.Linear(2, 2))
    assert not (tmp_path / "EXPLODED").exists()


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="io.load: no such file: .*nothing.safetensors"):
        io.load(tmp_path / "nothing.safetensors")


# ------------------------------------------------------------------------------ atomic writes
@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, failing):
    path = tmp_path / "ckpt.safetensors"
    io.save({"w": np.zeros(3)}, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    if failing == "write":
        # The payload is written through a file object: break its write after a partial chunk.
        real_ntf = io.tempfile.NamedTemporaryFile

        def partial(*args, **kwargs):
            f = real_ntf(*args, **kwargs)
            real_write = f.file.write

            def write(data):
                real_write(data[: len(data) // 2])
                raise OSError("disk full (simulated)")

            f.write = write
            return f

        monkeypatch.setattr(io.tempfile, "NamedTemporaryFile", partial)
    else:
        monkeypatch.setattr(io.os, failing, boom)
    with pytest.raises(OSError, match="disk full"):
        io.save({"w": np.ones(1000)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]
    np.testing.assert_array_equal(io.load(path)["w"], np.zeros(3))


def test_successful_write_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "w.safetensors"
    io.save({"w": np.zeros(3)}, path)
    io.save({"w": np.ones(3)}, path)
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors"]
    np.testing.assert_array_equal(io.load(path)["w"], np.ones(3))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_atomic_public(tmp_path, monkeypatch):
    path = tmp_path / "notes.txt"
    assert io.write_atomic(path, "héllo\n") == path
    assert path.read_bytes() == "héllo\n".encode()
    os.chmod(path, 0o600)
    assert io.write_atomic(str(path), b"bytes") == path
    assert path.read_bytes() == b"bytes"
    assert path.stat().st_mode & 0o777 == 0o600  # a replaced file keeps its mode
    with pytest.raises(TypeError, match="write_atomic: data must be bytes or str, got list"):
        io.write_atomic(path, [1, 2])

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(io.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        io.write_atomic(path, b"new contents")
    monkeypatch.undo()
    assert path.read_bytes() == b"bytes"
    assert os.listdir(tmp_path) == ["notes.txt"]
    with pytest.raises(FileNotFoundError):
        io.write_atomic(tmp_path / "missing" / "x.txt", b"")


# ------------------------------------------------------------------------------ checkpoints
def test_state_encoding_round_trips_types(tmp_path):
    class StandIn:
        """An optimiser-like object with awkward state: int keys, tuples, scalars, big ints."""

        def __init__(self, sd=None):
            self.sd = sd

        def state_dict(self):
            return self.sd

        def load_state_dict(self, sd):
            self.sd = sd

    state = {
        "state": {0: {"step": 3, "buf": np.arange(3.0), "s": np.float32(0.5)}, 2: {}},
        "param_groups": [{"params": [0, 2], "betas": (0.9, 0.999), "lr": 1e-3, "nan": np.nan,
                          "flag": None, "name": "g", "big": 2**100}],
        "looks_like_a_tag": {"__tensor__": "not an array"},
    }  # fmt: skip
    path = tmp_path / "ckpt.safetensors"
    model = cr.nn.Linear(2, 1)
    io.save_checkpoint(path, model, optimizer=StandIn(state), epoch=7, extra={"ids": (1, "a")})
    out = StandIn()
    info = io.load_checkpoint(path, cr.nn.Linear(2, 1), optimizer=out)
    assert info == {"epoch": 7, "extra": {"ids": (1, "a")}}
    got = out.sd
    assert set(got["state"]) == {0, 2} and got["state"][2] == {}
    assert got["state"][0]["step"] == 3 and type(got["state"][0]["step"]) is int
    np.testing.assert_array_equal(got["state"][0]["buf"], np.arange(3.0))
    assert type(got["state"][0]["s"]) is np.float32 and got["state"][0]["s"] == 0.5
    group = got["param_groups"][0]
    assert group["betas"] == (0.9, 0.999) and group["params"] == [0, 2]
    assert np.isnan(group["nan"]) and group["flag"] is None and group["big"] == 2**100
    assert got["looks_like_a_tag"] == {"__tensor__": "not an array"}


def test_unstorable_state_is_a_clear_error(tmp_path):
    class Odd:
        def state_dict(self):
            return {"fn": print}

    with pytest.raises(TypeError, match="cannot store optimizer/fn of type builtin_function"):
        io.save_checkpoint(tmp_path / "c.safetensors", cr.nn.Linear(1, 1), optimizer=Odd())
    assert not (tmp_path / "c.safetensors").exists()


def test_rng_state_is_restored(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    cr.random.seed(5)
    cr.randn(3)
    io.save_checkpoint(path, cr.nn.Linear(1, 1))
    expected = cr.randn(4).numpy()
    cr.random.seed(99)
    io.load_checkpoint(path, cr.nn.Linear(1, 1))
    np.testing.assert_array_equal(cr.randn(4).numpy(), expected)
    model = cr.nn.Linear(1, 1)
    before = cr.random.get_state()
    io.load_checkpoint(path, model, restore_rng=False)
    assert cr.random.get_state() == before


def test_checkpoint_errors(tmp_path):
    model = cr.nn.Linear(2, 3)
    plain = tmp_path / "plain.safetensors"
    io.save(model.state_dict(), plain)
    with pytest.raises(ValueError, match="is a safetensors file but not a chainrule checkpoint"):
        io.load_checkpoint(plain, model)

    bad_json = tmp_path / "bad_json.safetensors"
    io.save({"model/weight": np.ones((3, 2))}, bad_json, metadata={io.CHECKPOINT_KEY: "{oops"})
    with pytest.raises(ValueError, match="corrupted chainrule checkpoint: .* not JSON"):
        io.load_checkpoint(bad_json, model)

    header = {"version": 1, "epoch": 1, "model": ["bias", "weight"], "rng": None}
    dangling = tmp_path / "dangling.safetensors"
    io.save(
        {"model/weight": np.ones((3, 2), np.float32), "model/bias": np.ones(3, np.float32)},
        dangling,
        metadata={io.CHECKPOINT_KEY: json.dumps({**header, "optimizer": {"__tensor__": "x"}})},
    )
    with pytest.raises(ValueError, match="the array 'x' it refers to is missing"):
        io.load_checkpoint(dangling, model, optimizer=object(), restore_rng=False)
    with pytest.raises(ValueError, match="random-generator state is invalid"):
        io.load_checkpoint(dangling, model)

    newer = tmp_path / "newer.safetensors"
    io.save({}, newer, metadata={io.CHECKPOINT_KEY: json.dumps({**header, "version": 99})})
    with pytest.raises(ValueError, match="checkpoint format 99, newer than"):
        io.load_checkpoint(newer, model)

    good = tmp_path / "good.safetensors"
    io.save_checkpoint(good, model, epoch=3)
    with pytest.raises(ValueError, match=r"'weight' has shape \(3, 2\) in the checkpoint but"):
        io.load_checkpoint(good, cr.nn.Linear(3, 3))
    with pytest.raises(ValueError, match=r"does not fit the model: missing \['0.weight'"):
        io.load_checkpoint(good, cr.nn.Sequential(cr.nn.Linear(2, 3)))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        io.load_checkpoint(good, model, optimizer=opt)
    with pytest.raises(TypeError, match="epoch must be an int or None, got str"):
        io.save_checkpoint(good, model, epoch="3")


def test_failed_checkpoint_load_changes_nothing(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    a = cr.nn.Linear(2, 2)
    io.save_checkpoint(path, a, epoch=1)
    b = cr.nn.Sequential(cr.nn.Linear(2, 2))
    before = {k: v.copy() for k, v in b.state_dict().items()}
    with pytest.raises(ValueError, match="does not fit the model"):
        io.load_checkpoint(path, b)
    assert all(np.array_equal(before[k], v) for k, v in b.state_dict().items())


# ------------------------------------------------------------------------------ resume, bit for bit
def make_run(kind: str):
    """Model, optimiser, scheduler and loader built from the global generator's current state."""
    X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32))[:, None]
    ds = cr.data.TensorDataset(X, y)
    model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.Tanh(), cr.nn.Dropout(0.2),
                             cr.nn.Linear(8, 1))  # fmt: skip
    if kind == "sgd":
        opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                           weight_decay=1e-3)  # fmt: skip
        sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        loader = cr.data.DataLoader(ds, batch_size=8, shuffle=True, seed=3)
    else:
        opt = cr.optim.Adam(model.parameters(), lr=0.02)
        sched = cr.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=20)
        loader = cr.data.DataLoader(ds, batch_size=8, shuffle=True)  # global generator
    return model, opt, sched, loader


def train(model, opt, sched, loader, epochs: int, per_batch: bool) -> None:
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = ((model(xb) - yb) ** 2).mean()
            loss.backward()
            opt.step()
            if per_batch:
                sched.step()
        if not per_batch:
            sched.step()


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_resume_matches_uninterrupted_run_bit_for_bit(tmp_path, kind):
    per_batch = kind == "adam"  # OneCycleLR steps per batch, StepLR per epoch
    cr.random.seed(1)
    model, opt, sched, loader = make_run(kind)
    train(model, opt, sched, loader, 4, per_batch)
    reference = model.state_dict()
    reference_opt = opt.state_dict()

    cr.random.seed(1)
    model, opt, sched, loader = make_run(kind)
    train(model, opt, sched, loader, 2, per_batch)
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, model, opt, sched, epoch=2, extra={"note": "half way"})

    cr.random.seed(12345)  # fresh objects, different initial weights and random state
    model, opt, sched, loader = make_run(kind)
    info = io.load_checkpoint(path, model, opt, sched)
    assert info == {"epoch": 2, "extra": {"note": "half way"}}
    loader.set_epoch(info["epoch"])
    train(model, opt, sched, loader, 2, per_batch)

    resumed = model.state_dict()
    assert list(resumed) == list(reference)
    for key in reference:
        assert np.array_equal(resumed[key], reference[key]), key
    for idx, entries in reference_opt["state"].items():
        for name, value in entries.items():
            assert np.array_equal(opt.state_dict()["state"][idx][name], value), (idx, name)
