"""TableEncoder and Target: column kinds, ID detection, imputation, one-hot, the task."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from chainrule.model_folder import ModelFileError
from chainrule.tables import TableEncoder, Target

ALL = np.arange(8)


def _frame():
    return pd.DataFrame({
        "id": np.arange(100, 108),
        "age": [30.0, np.nan, 50.0, 40.0, 20.0, 35.0, np.nan, 45.0],
        "town": ["a", "b", "a", None, "b", "a", "c", "c"],
        "member": pd.array([True, False, True, True, False, False, True, True], dtype=bool),
        "name": [f"person {i}" for i in range(8)],
        "flag": ["yes", "no", "yes", "yes", "no", "no", "yes", "no"],
    })  # fmt: skip


def test_kinds_and_what_is_left_out():
    enc = TableEncoder.fit(_frame(), ALL)
    assert enc.feature_names == ["age", "town", "member", "flag"]
    assert enc.dropped == {"id": "ID-like (a running integer, unique per row)",
                           "name": "ID-like (unique text per row)"}  # fmt: skip
    assert enc.id_columns == ["id", "name"]
    assert enc.output_names == [
        "age", "age (missing)", "town=(missing)", "town=a", "town=b", "town=c", "member", "flag",
    ]  # fmt: skip
    assert [c.kind for c in enc.columns] == ["numeric", "categorical", "boolean", "boolean"]


def test_transform_values():
    frame = _frame()
    enc = TableEncoder.fit(frame, ALL)
    X = enc.transform(frame)
    ages = np.array([30, 50, 40, 20, 35, 45.0])
    median = np.median(ages)
    filled = frame["age"].fillna(median).to_numpy()
    np.testing.assert_allclose(X[:, 0], (filled - filled.mean()) / filled.std())
    assert X[:, 1].tolist() == [0, 1, 0, 0, 0, 0, 1, 0]
    assert X[3, 2:6].tolist() == [1, 0, 0, 0]  # town missing -> its own category
    assert X[0, 2:6].tolist() == [0, 1, 0, 0]
    assert X[:, 6].tolist() == [1, 0, 1, 1, 0, 0, 1, 1]
    assert X[:, 7].tolist() == [1, 0, 1, 1, 0, 0, 1, 0]  # yes/no


def test_statistics_come_from_the_training_rows_only():
    frame = _frame()
    train = np.array([0, 2, 3, 4])
    enc = TableEncoder.fit(frame, train)
    col = enc.columns[0]
    assert col.median == 35.0 and not col.indicator  # no missing age among the training rows
    assert col.mean == pytest.approx(35.0)
    assert enc.columns[1].categories == ["(missing)", "a", "b"]  # 'c' never seen in training
    X = enc.transform(frame)
    assert X[6, 0] == 0.0  # a missing age gets the median: 0 once standardised
    assert X[6, 1:4].tolist() == [0, 0, 0]  # unseen 'c' is all zeros


def test_predict_time_columns_in_any_order_extras_ignored_missing_refused():
    frame = _frame()
    enc = TableEncoder.fit(frame, ALL)
    shuffled = frame.assign(extra=["x"] * 8)[["flag", "extra", "member", "town", "age"]]
    np.testing.assert_array_equal(enc.transform(shuffled), enc.transform(frame))
    with pytest.raises(ValueError, match=r"lacks the model's feature column\(s\) 'age'"):
        enc.transform(frame.drop(columns=["age"]), "new.csv")
    bad = frame.assign(age=["x"] + ["1"] * 7)
    with pytest.raises(ValueError, match=r"new.csv, row 1, column 'age': 'x' is not a number"):
        enc.transform(bad, "new.csv")


def test_high_cardinality_text_and_empty_columns_are_left_out():
    n = 120
    frame = pd.DataFrame({
        "x": np.linspace(0, 1, n),
        "code": [f"c{i % 60}" for i in range(n)],      # 60 categories
        "half": [f"h{i // 2}" for i in range(n)],      # 60 distinct in 120 rows
        "empty": [None] * n,
        "few": ["p", "q", "r"] * (n // 3),
    })  # fmt: skip
    enc = TableEncoder.fit(frame, np.arange(n))
    assert enc.feature_names == ["x", "few"]
    assert enc.dropped["code"].startswith("text with too many distinct values (60 in 120")
    assert enc.dropped["empty"] == "no value"
    # chosen by name: kept whatever it is
    enc = TableEncoder.fit(frame, np.arange(n), features=["code", "x"])
    assert enc.feature_names == ["code", "x"] and len(enc.output_names) == 61


def test_integer_ids_named_like_ids_and_ordinary_integers():
    frame = pd.DataFrame({"PassengerId": [5, 17, 3, 99], "count": [5, 17, 3, 99],
                          "n": [1, 1, 2, 3]})  # fmt: skip
    enc = TableEncoder.fit(frame, np.arange(4))
    assert enc.id_columns == ["PassengerId"] and enc.feature_names == ["count", "n"]


def test_drop_features_and_errors():
    frame = _frame()
    enc = TableEncoder.fit(frame, ALL, drop=("town", "flag"))
    assert enc.feature_names == ["age", "member"]
    with pytest.raises(ValueError, match="--features: no column"):
        TableEncoder.fit(frame, ALL, features=["nope"])
    with pytest.raises(ValueError, match="is the target column"):
        TableEncoder.fit(frame, ALL, features=["age"], exclude=("age",))
    with pytest.raises(ValueError, match="no usable feature column"):
        TableEncoder.fit(frame[["id", "name"]], ALL)


def test_json_round_trip_and_validation():
    frame = _frame()
    enc = TableEncoder.fit(frame, ALL)
    d = json.loads(json.dumps(enc.to_dict()))
    again = TableEncoder.from_dict(d, "m.json")
    np.testing.assert_array_equal(again.transform(frame), enc.transform(frame))
    for change, message in [
        (lambda d: d["features"][0].update(scale=0), "scale must be > 0"),
        (lambda d: d["features"][0].update(scale=-1.0), "scale must be > 0"),
        (lambda d: d["features"][0].update(mean=float("nan")), "mean must be a finite number"),
        (lambda d: d["features"][0].update(kind="text"), "kind must be numeric"),
        (lambda d: d["features"][1].update(categories="abc"), "categories must be"),
        (lambda d: d["features"][0].update(extra=1), "must have exactly the keys"),
        (lambda d: d.update(features=[]), "features must be a list"),
        (lambda d: d.update(surprise=1), "unknown keys"),
    ]:
        bad = json.loads(json.dumps(enc.to_dict()))
        change(bad)
        with pytest.raises(ModelFileError, match=f"m.json: columns.*{message}"):
            TableEncoder.from_dict(bad, "m.json")


def _cells(values):
    return np.array(values, dtype=object)


@pytest.mark.parametrize(
    "cells, task, classes",
    [
        (["b", "a", "b", "c"], "classification", ["a", "b", "c"]),
        (["3", "10", "3", "-1"], "classification", ["-1", "3", "10"]),  # numeric order
        (["1.5", "2.25", "3", "4"], "regression", None),
        ([str(v) for v in range(30)], "regression", None),  # many integers: a regression
    ],
)
def test_task_detection(cells, task, classes):
    t, y, keep, why = Target.fit("y", _cells(cells))
    assert t.task == task and t.classes == classes and keep.all() and why
    if task == "regression":
        np.testing.assert_allclose(y, [float(c) for c in cells])
        assert t.mean == pytest.approx(np.mean(y)) and t.scale == pytest.approx(np.std(y))


def test_labels_beyond_int64_stay_text_and_missing_labels_are_dropped():
    big = ["9223372036854775808", "9223372036854775809", "9223372036854775808", None]
    t, y, keep, _ = Target.fit("y", _cells(big))
    assert t.classes == ["9223372036854775808", "9223372036854775809"]
    assert y.tolist() == [0, 1, 0] and keep.tolist() == [True, True, True, False]
    # 1e20-style labels are numbers: a regression unless told otherwise
    t, _, _, _ = Target.fit("y", _cells(["1e20", "2e20", "1e20", "2e20"]))
    assert t.task == "regression"
    t, y, _, _ = Target.fit("y", _cells(["1e20", "2e20", "1e20"]), "classification")
    assert t.classes == ["1e20", "2e20"] and y.tolist() == [0, 1, 0]


def test_target_errors_and_encoding():
    with pytest.raises(ValueError, match="has one class"):
        Target.fit("y", _cells(["a", "a"]))
    with pytest.raises(ValueError, match="regression needs numbers"):
        Target.fit("y", _cells(["a", "1"]), "regression")
    with pytest.raises(ValueError, match="too many classes"):
        Target.fit("y", _cells([f"u{i}" for i in range(60)]))
    with pytest.raises(ValueError, match="no values"):
        Target.fit("y", _cells([None, None]))
    t, _, _, _ = Target.fit("y", _cells(["3", "10", "3"]))
    y, keep = t.encode(_cells(["10", "03", None]))
    assert y.tolist() == [1, 0] and keep.tolist() == [True, True, False]
    with pytest.raises(ValueError, match=r"labels \['7'\] are not among"):
        t.encode(_cells(["7"]))
    assert Target.from_dict(t.to_dict(), "m.json") == t
    with pytest.raises(ModelFileError, match="target.classes must be"):
        Target.from_dict({"name": "y", "task": "classification", "classes": "abc"}, "m.json")
    with pytest.raises(ModelFileError, match="target.scale must be > 0"):
        Target.from_dict({"name": "y", "task": "regression", "mean": 0, "scale": 0}, "m.json")
