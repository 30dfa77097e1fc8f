"""A seeded corpus of malformed tables, model.json files, weights and checkpoints, through the
library and the command line: each must end in a clean refusal or a correct result.

A clean refusal is exit status 2 with one line on stderr (CLI) or one of the documented
exception types (library); never a traceback, another status, or a model with non-finite
weights. The counts are printed with ``-s`` (RELIABILITY.md quotes them).
"""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest

import chainrule as cr
from chainrule import training
from chainrule.cli import main
from chainrule.model_folder import ModelFileError

pytest.importorskip("pandas")
pytest.importorskip("safetensors")

GOOD = (
    "id,town,age,score,member,label\n"
    + "".join(
        f"{i},{['north', 'south', 'east'][i % 3]},{20 + (i * 7) % 50},{(i * 13) % 17 / 3:.3f},"
        f"{'true' if i % 2 else 'false'},{'yes' if (i * 7) % 50 + (i % 3) * 10 > 30 else 'no'}\n"
        for i in range(60)
    )
)
_CELLS = ["", "NA", "?", "inf", "-Infinity", "1e400", "+nan", "-nan", "nan", "abc", "1,5",
          '"', '""', "\x00", "9" * 30, "-9223372036854775809", "1e20", " ", "é", "\t"]  # fmt: skip


def _mutate(text: str, rng: random.Random) -> bytes:
    lines = text.splitlines(keepends=True)
    kind = rng.randrange(10)
    if kind == 0:  # truncate anywhere
        return text.encode()[: rng.randrange(len(text))]
    if kind == 1:  # a random cell replaced
        i = rng.randrange(len(lines))
        cells = lines[i].rstrip("\n").split(",")
        cells[rng.randrange(len(cells))] = rng.choice(_CELLS)
        lines[i] = ",".join(cells) + "\n"
    elif kind == 2:  # a duplicate or empty column name
        cells = lines[0].rstrip("\n").split(",")
        cells[rng.randrange(len(cells))] = rng.choice(["", cells[0], " ", "label"])
        lines[0] = ",".join(cells) + "\n"
    elif kind == 3:  # a field too many or too few
        i = rng.randrange(1, len(lines))
        lines[i] = lines[i].rstrip("\n") + (",x\n" if rng.random() < 0.5 else "")[:3]
        if lines[i].count(",") == 5:
            lines[i] = lines[i].rsplit(",", 1)[0] + "\n"
    elif kind == 4:  # random bytes somewhere
        data = bytearray(text.encode())
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    elif kind == 5:  # another delimiter throughout
        d = rng.choice([";", "\t", "|"])
        return text.replace(",", d).encode()
    elif kind == 6:  # CRLF, BOM, blank lines
        return ("\ufeff" + text.replace("\n", "\r\n\r\n")).encode()
    elif kind == 7:  # every label the same, or all missing
        value = rng.choice(["yes", "", "NA"])
        lines = [lines[0]] + [ln.rsplit(",", 1)[0] + f",{value}\n" for ln in lines[1:]]
    elif kind == 8:  # a column of text with numbers
        lines = [lines[0]] + [ln.replace(",", ",x", 1) if rng.random() < 0.2 else ln
                              for ln in lines[1:]]  # fmt: skip
    else:  # header only, or nothing
        return rng.choice([lines[0], "", "\n\n"]).encode()
    return "".join(lines).encode()


def _clean_refusal(capsys, code) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("chainrule: error")


def test_malformed_tables_through_train_and_predict(tmp_path, capsys):
    rng = random.Random(20261129)
    model = tmp_path / "model"
    (tmp_path / "good.csv").write_text(GOOD)
    assert main(["train", "--data", str(tmp_path / "good.csv"), "--model", "logreg",
                 "--out", str(model), "--quiet"]) == 0  # fmt: skip
    outcomes = {"trained": 0, "refused": 0, "predicted": 0, "predict refused": 0}
    for k in range(60):
        path = tmp_path / f"bad{k}.csv"
        path.write_bytes(_mutate(GOOD, rng))
        capsys.readouterr()
        code = main(["train", "--data", str(path), "--model", "logreg", "--quiet",
                     "--out", str(tmp_path / f"m{k}")])  # fmt: skip
        if code == 0:
            trained = training.load_model(tmp_path / f"m{k}")
            for p in trained.net.parameters():
                assert np.isfinite(p.numpy()).all()
            metrics = json.loads((tmp_path / f"m{k}" / "metrics.json").read_text())
            assert 0 <= metrics["accuracy"] <= 1
            outcomes["trained"] += 1
        else:
            _clean_refusal(capsys, code)
            outcomes["refused"] += 1
        capsys.readouterr()
        code = main(["predict", str(model), str(path)])
        if code == 0:
            out = capsys.readouterr().out.splitlines()
            assert out[0].endswith("prediction")
            assert all(row.endswith(("yes", "no")) for row in out[1:])  # the last field
            outcomes["predicted"] += 1
        else:
            _clean_refusal(capsys, code)
            outcomes["predict refused"] += 1
    print("malformed tables:", outcomes)
    assert outcomes["refused"] and outcomes["trained"]


def _spec_mutations(spec: dict, rng: random.Random) -> dict:
    s = json.loads(json.dumps(spec))
    values = [None, "x", -1, 0, 1e308, [], {}, [1, 2], True, "NaN", 99, 10**12, 0.5]
    path = []
    node = s
    while isinstance(node, (dict, list)) and node and rng.random() < 0.75:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        path.append(key)
        if isinstance(node[key], (dict, list)) and node[key]:
            node = node[key]
        else:
            break
    target = s
    for key in path[:-1]:
        target = target[key]
    if path:
        action = rng.randrange(3)
        if action == 0 and isinstance(target, dict):
            del target[path[-1]]
        else:
            target[path[-1]] = rng.choice(values)
    else:
        s["unexpected"] = 1
    return s


def test_malformed_model_json_and_weights(tmp_path):
    rng = random.Random(7)
    out = tmp_path / "m"
    training.train("iris", model="mlp", epochs=2, hidden=(4,), out=out, progress=False,
                   plots=False)  # fmt: skip
    spec = json.loads((out / "model.json").read_text())
    weights = (out / "model.safetensors").read_bytes()
    frame = training.load_data("iris").frame
    outcomes = {"refused": 0, "loaded": 0}
    for _ in range(120):
        mutated = _spec_mutations(spec, rng)
        data = weights
        if rng.random() < 0.3:  # damaged weights, re-hashed so only their content is judged
            b = bytearray(weights)
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            data = bytes(b)
            mutated["weights_sha256"] = hashlib.sha256(data).hexdigest()
        (out / "model.json").write_text(json.dumps(mutated))
        (out / "model.safetensors").write_bytes(data)
        try:
            model = training.load_model(out)
        except (ModelFileError, FileNotFoundError):
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
        # whatever loaded is a working model: finite outputs of the right shape
        outputs = model.outputs(frame)
        assert np.isfinite(outputs).all() and outputs.shape[0] == 150
    print("malformed model folders:", outcomes)
    assert outcomes["refused"] > 60


def test_malformed_checkpoints(tmp_path):
    rng = random.Random(11)
    model = cr.nn.Linear(3, 2)
    opt = cr.optim.Adam(model.parameters(), lr=0.1)
    model(cr.ones(4, 3)).sum().backward()
    opt.step()
    path = tmp_path / "ck.safetensors"
    cr.io.save_checkpoint(path, model=model, optimizer=opt, epoch=3)
    good = path.read_bytes()
    outcomes = {"refused": 0, "loaded": 0}
    for _ in range(80):
        b = bytearray(good)
        if rng.random() < 0.5:
            b = b[: rng.randrange(len(b))]
        else:
            for _ in range(rng.randrange(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        path.write_bytes(bytes(b))
        fresh = cr.nn.Linear(3, 2)
        fresh_opt = cr.optim.Adam(fresh.parameters(), lr=0.1)
        before = [p.numpy().copy() for p in fresh.parameters()]
        try:
            cr.io.load_checkpoint(path, model=fresh, optimizer=fresh_opt)
        except (ValueError, KeyError, TypeError) as exc:
            assert str(path) in str(exc) or "ck.safetensors" in str(exc), exc
            # a refused checkpoint changes nothing
            for p, q in zip(fresh.parameters(), before):
                np.testing.assert_array_equal(p.numpy(), q)
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
    print("malformed checkpoints:", outcomes)
    assert outcomes["refused"] > 40
