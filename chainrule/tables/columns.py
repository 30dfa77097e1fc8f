"""A table's columns as a model sees them: kinds, ID detection, imputation, one-hot, scaling.

:class:`TableEncoder` is fitted on the training rows of a pandas DataFrame and turns any table
with the same columns (in any order, extra columns ignored) into a float64 matrix:

* numeric columns: missing cells get the training median, plus a 0/1 "missing" indicator column
  when the training part had missing cells; then standardised with the training mean and scale;
* boolean columns (true/false, yes/no): 0/1, imputed like numbers, not scaled;
* text columns: one-hot over the training part's categories (a missing cell is a category of its
  own when the training part had one); an unseen category encodes as all zeros;
* left out, each with its reason: ID-like columns (unique per row: a running integer or an
  integer column named like an id, unique strings), very high-cardinality text, columns with no
  value in the training part.

Its whole state is a JSON-able dict (``to_dict``/``from_dict``), stored in ``model.json`` and
replayed by ``chainrule predict``. :class:`Target` does the same for the label column: the task
(classification or regression) and the classes or the target's scale.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .read import as_text

__all__ = ["TableEncoder", "Target", "MAX_CATEGORIES", "MAX_CLASSES_AUTO"]

#: A text column with more categories than this (or more than half its rows distinct) is left out.
MAX_CATEGORIES = 50
#: Integer labels with at most this many distinct values are classes (``--task auto``).
MAX_CLASSES_AUTO = 20
#: One-hot encoding of a column the user asked for by name stops here (memory).
HARD_MAX_CATEGORIES = 1000
_MISSING_CATEGORY = "(missing)"
_ID_NAMES = {"id", "index", "idx", "key", "rowid", "row_id", "row", "unnamed: 0", "uuid", "guid"}
_TRUE, _FALSE = {"true", "t", "yes"}, {"false", "f", "no"}


def _looks_like_id_name(name: str) -> bool:
    low = name.strip().lower()
    return low in _ID_NAMES or bool(re.search(r"(^|[^a-z])id$", low)) or name.endswith(("Id", "ID"))


def _missing(values: np.ndarray) -> np.ndarray:
    return np.array([v is None for v in values], dtype=bool)


def _numbers(col: Any) -> np.ndarray | None:
    """A numeric or boolean pandas column as float64 (NaN where missing); None for text."""
    kind = col.dtype.kind
    if kind in "iuf":
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    if kind == "b":
        return col.to_numpy(dtype=np.float64)
    return None


def _booleans(text: np.ndarray) -> np.ndarray | None:
    """Text cells that are all true/false words as 0/1 floats (NaN where missing), else None."""
    present = [v.lower() for v in text if v is not None]
    if not present or not set(present) <= _TRUE | _FALSE:
        return None
    return np.array(
        [np.nan if v is None else float(v.lower() in _TRUE) for v in text], dtype=np.float64
    )


@dataclass
class _Column:
    name: str
    kind: str  # "numeric" | "boolean" | "categorical"
    median: float = 0.0
    indicator: bool = False
    mean: float = 0.0
    scale: float = 1.0
    categories: list[str] = field(default_factory=list)

    def width(self) -> int:
        if self.kind == "categorical":
            return len(self.categories)
        return 1 + int(self.indicator)

    def names(self) -> list[str]:
        if self.kind == "categorical":
            return [f"{self.name}={c}" for c in self.categories]
        return [self.name] + ([f"{self.name} (missing)"] if self.indicator else [])


class TableEncoder:
    """Fitted preprocessing of a table's feature columns (see the module docstring).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 2, 3, 4], "age": [30.0, None, 50.0, 40.0],
    ...                    "town": ["a", "b", "a", None]})
    >>> enc = TableEncoder.fit(df, np.arange(4))
    >>> enc.output_names
    ['age', 'age (missing)', 'town=(missing)', 'town=a', 'town=b']
    >>> enc.dropped
    {'id': 'ID-like (a running integer, unique per row)'}
    >>> enc.transform(df.iloc[[1]]).round(3).tolist()
    [[0.0, 1.0, 0.0, 0.0, 1.0]]
    """

    def __init__(
        self, columns: list[_Column], dropped: dict[str, str], id_columns: list[str]
    ) -> None:
        self.columns = columns
        self.dropped = dropped
        self.id_columns = id_columns

    # ------------------------------------------------------------------------------ fit
    @classmethod
    def fit(
        cls,
        frame: Any,
        train_rows: np.ndarray,
        features: list[str] | None = None,
        drop: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
    ) -> TableEncoder:
        """Decide each column's kind on the whole ``frame`` and fit its statistics on
        ``train_rows`` (positions). ``features`` chooses the columns (none is then left out
        automatically); ``drop`` and ``exclude`` (the target) are never features."""
        names = [str(c) for c in frame.columns]
        for what, chosen in (("--features", features or []), ("--drop", drop)):
            unknown = [c for c in chosen if c not in names]
            if unknown:
                raise ValueError(
                    f"{what}: no column(s) {', '.join(map(repr, unknown))}; the columns are "
                    f"{', '.join(map(repr, names))}"
                )
        clash = [c for c in (features or []) if c in exclude]
        if clash:
            raise ValueError(f"--features: {clash[0]!r} is the target column")
        candidates = features if features is not None else [
            c for c in names if c not in drop and c not in exclude
        ]  # fmt: skip
        columns: list[_Column] = []
        dropped: dict[str, str] = {}
        ids: list[str] = []
        n = len(frame)
        for name in candidates:
            col = frame[name]
            values = _numbers(col)
            chosen = features is not None
            if values is None:
                text = as_text(col.to_numpy(dtype=object))
                values = _booleans(text)
                if values is None:
                    reason = None if chosen else _text_reason(text, n)
                    if reason is not None:
                        dropped[name] = reason
                        if reason.startswith("ID-like"):
                            ids.append(name)
                        continue
                    columns.append(_fit_categories(name, text[train_rows]))
                    continue
                kind = "boolean"
            else:
                kind = "boolean" if col.dtype.kind == "b" else "numeric"
            integers = col.dtype.kind in "iu"  # written as integers in the file
            reason = None if chosen or not integers else _number_reason(name, values, n)
            if reason is not None:
                dropped[name] = reason
                ids.append(name)
                continue
            train = values[train_rows]
            if np.isnan(train).all():
                dropped[name] = "no value in the training part"
                continue
            columns.append(_fit_numbers(name, kind, train))
        if not columns:
            raise ValueError(
                "no usable feature column"
                + (f" (left out: {', '.join(f'{k}: {v}' for k, v in dropped.items())})"
                   if dropped else "")  # fmt: skip
            )
        return cls(columns, dropped, ids)

    # ------------------------------------------------------------------------ transform
    @property
    def feature_names(self) -> list[str]:
        """The input columns used, in order."""
        return [c.name for c in self.columns]

    @property
    def output_names(self) -> list[str]:
        """One name per output column (``town=a``, ``age (missing)``, ...)."""
        return [n for c in self.columns for n in c.names()]

    @property
    def categorical_columns(self) -> list[str]:
        """The text columns (read as text at predict time, whatever they hold)."""
        return [c.name for c in self.columns if c.kind == "categorical"]

    def transform(self, frame: Any, source: str = "the table") -> np.ndarray:
        """The float64 matrix of ``frame``'s rows; columns by name, in any order.

        Raises ValueError naming the missing columns, or the row and column of a cell that
        is text where the model expects a number.
        """
        present = {str(c) for c in frame.columns}
        missing = [c.name for c in self.columns if c.name not in present]
        if missing:
            shown = ", ".join(map(repr, missing[:5])) + (", ..." if len(missing) > 5 else "")
            raise ValueError(f"{source} lacks the model's feature column(s) {shown}")
        n = len(frame)
        out = np.zeros((n, sum(c.width() for c in self.columns)), dtype=np.float64)
        j = 0
        for c in self.columns:
            col = frame[c.name]
            if c.kind == "categorical":
                index = {v: k for k, v in enumerate(c.categories)}
                text = as_text(col.to_numpy(dtype=object))
                rows = [(i, index.get(_MISSING_CATEGORY if v is None else v)) for i, v in
                        enumerate(text)]  # fmt: skip
                hit = [(i, k) for i, k in rows if k is not None]
                if hit:
                    r, k = zip(*hit)
                    out[list(r), j + np.asarray(k)] = 1.0
            else:
                values = self._column_numbers(c, col, source)
                miss = np.isnan(values)
                values = np.where(miss, c.median, values)
                out[:, j] = (values - c.mean) / c.scale if c.kind == "numeric" else values
                if c.indicator:
                    out[:, j + 1] = miss
            j += c.width()
        return out

    @staticmethod
    def _column_numbers(c: _Column, col: Any, source: str) -> np.ndarray:
        values = _numbers(col)
        if values is not None:
            return values
        text = as_text(col.to_numpy(dtype=object))
        if c.kind == "boolean":
            values = _booleans(text)
            if values is not None:
                return values
        out = np.empty(len(text), dtype=np.float64)
        for i, v in enumerate(text):
            try:
                out[i] = np.nan if v is None else float(v)
            except ValueError:
                raise ValueError(
                    f"{source}, row {i + 1}, column {c.name!r}: {v!r} is not a number (the "
                    f"model's column {c.name!r} is {c.kind})"
                ) from None
            if math.isinf(out[i]):
                raise ValueError(f"{source}, row {i + 1}, column {c.name!r}: {v!r} is not finite")
        return out

    # ------------------------------------------------------------------------- to JSON
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as JSON-able data (for ``model.json``)."""
        cols = []
        for c in self.columns:
            d: dict[str, Any] = {"name": c.name, "kind": c.kind}
            if c.kind == "categorical":
                d["categories"] = list(c.categories)
            else:
                d.update(median=c.median, indicator=c.indicator)
                if c.kind == "numeric":
                    d.update(mean=c.mean, scale=c.scale)
            cols.append(d)
        return {"features": cols, "dropped": dict(self.dropped),
                "id_columns": list(self.id_columns)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Any, where: str) -> TableEncoder:
        """Rebuild from :meth:`to_dict`'s output, checking every field (``where`` names the
        file in errors)."""
        from ..model_folder import check  # the one validator of model.json's fields

        check(isinstance(d, dict), where, "columns", "must be an object")
        check(set(d) <= {"features", "dropped", "id_columns"}, where, "columns",
              f"has unknown keys {sorted(set(d) - {'features', 'dropped', 'id_columns'})}")
        feats = d.get("features")
        check(isinstance(feats, list) and feats, where, "columns.features", "must be a list")
        columns = []
        for i, f in enumerate(feats):
            at = f"columns.features[{i}]"
            check(isinstance(f, dict) and isinstance(f.get("name"), str), where, at,
                  "must be an object with a name")  # fmt: skip
            kind = f.get("kind")
            check(kind in ("numeric", "boolean", "categorical"), where, at + ".kind",
                  f"must be numeric, boolean or categorical, got {kind!r}")
            allowed = {"name", "kind"} | (
                {"categories"} if kind == "categorical" else {"median", "indicator"}
                | ({"mean", "scale"} if kind == "numeric" else set())
            )
            check(set(f) == allowed, where, at, f"must have exactly the keys {sorted(allowed)}")
            if kind == "categorical":
                cats = f["categories"]
                check(isinstance(cats, list) and cats and all(isinstance(c, str) for c in cats)
                      and len(set(cats)) == len(cats), where, at + ".categories",
                      "must be a non-empty list of distinct strings")  # fmt: skip
                columns.append(_Column(f["name"], kind, categories=list(cats)))
                continue
            num = {k: f[k] for k in ("median", "mean", "scale") if k in f}
            for k, v in num.items():
                check(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
                      where, f"{at}.{k}", f"must be a finite number, got {v!r}")  # fmt: skip
            if kind == "numeric":
                check(num["scale"] > 0, where, at + ".scale", f"must be > 0, got {num['scale']}")
            check(isinstance(f["indicator"], bool), where, at + ".indicator", "must be true/false")
            columns.append(_Column(f["name"], kind, indicator=f["indicator"],
                                   **{k: float(v) for k, v in num.items()}))  # fmt: skip
        names = [c.name for c in columns]
        check(len(set(names)) == len(names), where, "columns.features", "repeats a column name")
        dropped = d.get("dropped", {})
        ids = d.get("id_columns", [])
        check(isinstance(dropped, dict) and all(isinstance(v, str) for v in dropped.values()),
              where, "columns.dropped", "must map column names to reasons")  # fmt: skip
        check(isinstance(ids, list) and all(isinstance(v, str) for v in ids), where,
              "columns.id_columns", "must be a list of column names")  # fmt: skip
        return cls(columns, dict(dropped), list(ids))


def _text_reason(text: np.ndarray, n: int) -> str | None:
    present = [v for v in text if v is not None]
    if not present:
        return "no value"
    distinct = len(set(present))
    if distinct == n:
        return "ID-like (unique text per row)"
    if distinct > MAX_CATEGORIES or (distinct > 10 and distinct > 0.5 * len(present)):
        return f"text with too many distinct values ({distinct} in {len(present)} rows)"
    return None


def _number_reason(name: str, values: np.ndarray, n: int) -> str | None:
    if n < 3:
        return None
    distinct = np.unique(values)
    if len(distinct) != n:
        return None
    if distinct[-1] - distinct[0] == n - 1:
        return "ID-like (a running integer, unique per row)"
    if _looks_like_id_name(name):
        return "ID-like (an integer unique per row, named like an id)"
    return None


def _fit_numbers(name: str, kind: str, train: np.ndarray) -> _Column:
    miss = np.isnan(train)
    median = float(np.median(train[~miss]))
    filled = np.where(miss, median, train)
    if kind == "boolean":
        return _Column(name, kind, median=median, indicator=bool(miss.any()))
    mean, scale = float(filled.mean()), float(filled.std())
    if not scale > 1e-12 * max(1.0, abs(mean)):
        scale = 1.0
    return _Column(name, kind, median, bool(miss.any()), mean, scale)


def _fit_categories(name: str, train: np.ndarray) -> _Column:
    present = sorted({v for v in train if v is not None})
    if len(present) > HARD_MAX_CATEGORIES:
        raise ValueError(
            f"column {name!r} has {len(present)} distinct text values: too many to one-hot "
            f"encode (at most {HARD_MAX_CATEGORIES}); leave it out with --drop"
        )
    cats = ([_MISSING_CATEGORY] if any(v is None for v in train) else []) + present
    if not cats:
        cats = [_MISSING_CATEGORY]
    return _Column(name, "categorical", categories=cats)


# ---------------------------------------------------------------------------------- target
_INT = re.compile(r"^[+-]?\d+$")
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class Target:
    """The label column: ``task``, and ``classes`` (names as strings) for classification or
    the training ``mean``/``scale`` for regression.

    Examples
    --------
    >>> t, y, keep, why = Target.fit("grade", np.array(["3", "10", "3", None], dtype=object))
    >>> t.task, t.classes, y.tolist(), keep.tolist()
    ('classification', ['3', '10'], [0, 1, 0], [True, True, True, False])
    """

    name: str
    task: str
    classes: list[str] | None = None
    mean: float = 0.0
    scale: float = 1.0

    @classmethod
    def fit(
        cls, name: str, cells: np.ndarray, task: str = "auto"
    ) -> tuple[Target, np.ndarray, np.ndarray, str]:
        """Decide the task from the label texts ``cells`` (None = missing) and encode them.

        Returns the Target, the labels of the kept rows (class indices or float values), the
        mask of kept rows (those with a label) and a sentence saying why the task was chosen.
        """
        if task not in ("auto", "classification", "regression"):
            raise ValueError(f"--task must be auto, classification or regression, got {task!r}")
        keep = ~_missing(cells)
        text = [str(v) for v in cells[keep]]
        if not text:
            raise ValueError(f"the target column {name!r} has no values")
        ints = [int(v) for v in text] if all(_INT.match(v) for v in text) else None
        fits = ints is not None and _INT64[0] <= min(ints) and max(ints) <= _INT64[1]
        numbers = _floats(text) if ints is None else [float(v) for v in ints]
        if task == "auto":
            if ints is not None and len(set(ints)) <= MAX_CLASSES_AUTO:
                task, why = "classification", (
                    f"integer labels with {len(set(ints))} distinct values")
            elif numbers is not None:
                task, why = "regression", (
                    f"numbers with {len(set(numbers))} distinct values in {len(text)} rows")
            else:
                task, why = "classification", "text labels"
        else:
            why = "--task"
        if task == "regression":
            if numbers is None:
                bad = next(v for v in text if _floats([v]) is None)
                raise ValueError(
                    f"the target column {name!r} holds text ({bad!r}); regression needs numbers"
                )
            y = np.asarray(numbers, dtype=np.float64)
            if not np.isfinite(y).all():
                raise ValueError(f"the target column {name!r} holds a non-finite number")
            mean, scale = float(y.mean()), float(y.std())
            return cls(name, task, None, mean, scale if scale > 0 else 1.0), y, keep, why
        if ints is not None and fits:
            order = sorted(set(ints))
            classes = [str(v) for v in order]
            index = {v: k for k, v in enumerate(order)}
            y = np.array([index[v] for v in ints], dtype=np.int64)
        else:
            classes = sorted(set(text))
            index = {v: k for k, v in enumerate(classes)}
            y = np.array([index[v] for v in text], dtype=np.int64)
        if len(classes) < 2:
            raise ValueError(f"the target column {name!r} has one class ({classes[0]!r})")
        if len(classes) > max(MAX_CLASSES_AUTO, len(text) // 2):
            raise ValueError(
                f"the target column {name!r} has {len(classes)} distinct values in {len(text)} "
                "rows: too many classes (is it an identifier? choose --target, or --task "
                "regression for numbers)"
            )
        return cls(name, task, classes), y, keep, why

    def encode(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels of new rows (class indices or floats) and the mask of rows that have one;
        a class the model does not know is an error naming it."""
        keep = ~_missing(cells)
        text = [str(v) for v in cells[keep]]
        if self.task == "regression":
            values = _floats(text)
            if values is None:
                raise ValueError(f"the target column {self.name!r} holds text")
            return np.asarray(values, dtype=np.float64), keep
        index = {c: k for k, c in enumerate(self.classes or [])}
        if all(c.lstrip("+-").isdigit() for c in index):  # integer classes: "07" is "7"
            text = [str(int(v)) if _INT.match(v) else v for v in text]
        unknown = sorted({v for v in text if v not in index})
        if unknown:
            raise ValueError(
                f"labels {unknown[:5]} are not among the model's classes {self.classes}"
            )
        return np.array([index[v] for v in text], dtype=np.int64), keep

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        d: dict[str, Any] = {"name": self.name, "task": self.task}
        if self.task == "classification":
            d["classes"] = list(self.classes or [])
        else:
            d.update(mean=self.mean, scale=self.scale)
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Target:
        """Rebuild from :meth:`to_dict`'s output, checking every field."""
        from ..model_folder import check

        check(isinstance(d, dict) and isinstance(d.get("name"), str), where, "target",
              "must be an object with a name")  # fmt: skip
        task = d.get("task")
        check(task in ("classification", "regression"), where, "target.task",
              f"must be classification or regression, got {task!r}")
        if task == "classification":
            check(set(d) == {"name", "task", "classes"}, where, "target", "has wrong keys")
            cl = d["classes"]
            check(isinstance(cl, list) and len(cl) >= 2 and all(isinstance(c, str) for c in cl)
                  and len(set(cl)) == len(cl), where, "target.classes",
                  "must be a list of at least two distinct strings")  # fmt: skip
            return cls(d["name"], task, list(cl))
        check(set(d) == {"name", "task", "mean", "scale"}, where, "target", "has wrong keys")
        for k in ("mean", "scale"):
            v = d[k]
            check(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
                  where, f"target.{k}", f"must be a finite number, got {v!r}")  # fmt: skip
        check(d["scale"] > 0, where, "target.scale", "must be > 0")
        return cls(d["name"], task, None, float(d["mean"]), float(d["scale"]))


def _floats(text: list[str]) -> list[float] | None:
    try:
        return [float(v) for v in text]
    except ValueError:
        return None
