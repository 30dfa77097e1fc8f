"""``load_csv``: a numeric table with a class (or numeric) target column, checked cell by cell.

Every problem in the file - a row with the wrong number of fields, a missing value, a feature that
is not a number - is reported with the file, the line number (1-based, the header being line 1)
and the column, instead of a NaN slipping into the data.
"""

from __future__ import annotations

import csv
import os
from typing import Any

import numpy as np

__all__ = ["load_csv"]

# Spellings of "no value" in exported tables; compared after strip() and lower().
_MISSING = frozenset({"", "na", "n/a", "nan", "+nan", "-nan", "null", "none", "?"})


def load_csv(
    path: str | os.PathLike[str],
    target: str | int | None = -1,
    delimiter: str = ",",
    header: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Read a CSV file of numeric features and one target column.

    Parameters
    ----------
    path : str or path-like
        The file (UTF-8; quoted fields are handled by the ``csv`` module).
    target : str, int or None, default -1
        The target column, by name (needs ``header``) or by index (negative counts from the
        end); None reads every column as a feature and returns ``y = None``.
    delimiter : str, default ","
    header : bool, default True
        Whether the first row holds the column names (otherwise they are ``x0, x1, ...``).

    Returns
    -------
    X : (n_samples, n_features) float64 array
    y : (n_samples,) array or None
        Text labels become int64 class codes into the sorted ``info["classes"]``; integer
        labels are kept as int64 (``info["classes"]`` lists the values present); other numbers
        stay float64 (a regression target, ``info["classes"]`` is None).
    info : dict
        ``feature_names`` (list of str), ``target_name`` (str or None) and ``classes``.

    Raises
    ------
    ValueError
        For a missing target column (listing the columns there are), and for a row with the
        wrong number of fields, a missing value (empty, NA, NaN, ?, ...) or a non-numeric
        feature, naming the file, the line and the column.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "flowers.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("length,width,species\\n5.1,3.5,setosa\\n6.3,2.5,virginica\\n")
    >>> X, y, info = load_csv(path, target="species")
    >>> X.tolist(), y.tolist(), info["classes"].tolist()
    ([[5.1, 3.5], [6.3, 2.5]], [0, 1], ['setosa', 'virginica'])
    """
    fname = os.fspath(path)
    rows: list[tuple[int, list[str]]] = []
    with open(fname, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            for row in reader:
                if any(cell.strip() for cell in row):  # blank lines carry no sample
                    rows.append((reader.line_num, row))
        except csv.Error as exc:
            raise ValueError(f"load_csv: {fname}, line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"load_csv: {fname} is not UTF-8 text: {exc}") from None
    if header:
        if not rows:
            raise ValueError(f"load_csv: {fname} is empty (expected a header row)")
        names = [name.strip() for name in rows[0][1]]
        rows = rows[1:]
    else:
        if not rows:
            raise ValueError(f"load_csv: {fname} has no rows")
        names = [f"x{j}" for j in range(len(rows[0][1]))]
    if not rows:
        raise ValueError(f"load_csv: {fname} has no data rows")
    n_cols = len(names)
    for line, row in rows:
        if len(row) != n_cols:
            raise ValueError(
                f"load_csv: {fname}, line {line}: expected {n_cols} fields "
                f"({'as in the header' if header else 'as in the first row'}), got {len(row)}"
            )

    t = _target_index(target, names, header, fname)
    feature_cols = [j for j in range(n_cols) if j != t]
    X = _features(rows, feature_cols, names, fname)
    info: dict[str, Any] = {
        "feature_names": [names[j] for j in feature_cols],
        "target_name": None if t is None else names[t],
        "classes": None,
    }
    if t is None:
        return X, None, info
    y, info["classes"] = _target(rows, t, names[t], fname)
    return X, y, info


def _where(fname: str, line: int, names: list[str], j: int) -> str:
    return f"load_csv: {fname}, line {line}, column {names[j]!r} (column {j + 1})"


def _target_index(target: Any, names: list[str], header: bool, fname: str) -> int | None:
    if target is None:
        return None
    if isinstance(target, str):
        if not header:
            raise ValueError(
                f"load_csv: {fname}: target={target!r} is a column name, but header=False; "
                f"pass the column index instead"
            )
        if target not in names:
            raise ValueError(f"load_csv: {fname} has no column {target!r}; the columns are {names}")
        return names.index(target)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(
            f"load_csv: target must be a column name, an index or None, got {type(target).__name__}"
        )
    n = len(names)
    if not -n <= target < n:
        raise ValueError(
            f"load_csv: target index {target} is out of range for {fname}, which has {n} "
            f"columns {names}"
        )
    return int(target) % n


def _features(
    rows: list[tuple[int, list[str]]], cols: list[int], names: list[str], fname: str
) -> np.ndarray:
    table = [[row[j] for j in cols] for _, row in rows]
    try:
        # NumPy converts the strings in C; only a failure needs the cell-by-cell scan below.
        X = np.array(table, dtype=np.float64).reshape(len(rows), len(cols))
    except ValueError:
        X = None
    if X is not None and np.isfinite(X).all():
        return X
    for line, row in rows:
        for j in cols:
            cell = row[j]
            if cell.strip().lower() in _MISSING:
                raise ValueError(f"{_where(fname, line, names, j)}: missing value {cell!r}")
            try:
                value = float(cell)
            except ValueError:
                raise ValueError(
                    f"{_where(fname, line, names, j)}: {cell!r} is not a number (features "
                    f"must be numeric)"
                ) from None
            if not np.isfinite(value):  # inf, 1e400, or a NaN spelling not listed as missing
                raise ValueError(f"{_where(fname, line, names, j)}: {cell!r} is not finite")
    raise AssertionError("load_csv: a non-finite cell was not found")  # pragma: no cover


def _target(
    rows: list[tuple[int, list[str]]], t: int, name: str, fname: str
) -> tuple[np.ndarray, np.ndarray | None]:
    labels = []
    for line, row in rows:
        cell = row[t].strip()
        if cell.lower() in _MISSING:
            raise ValueError(
                f"load_csv: {fname}, line {line}, column {name!r} (column {t + 1}): missing "
                f"target value {row[t]!r}"
            )
        labels.append(cell)
    try:
        values = np.array(labels, dtype=np.float64)
    except ValueError:
        classes, codes = np.unique(np.array(labels), return_inverse=True)
        return codes.astype(np.int64), classes
    if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        y = values.astype(np.int64)
        return y, np.unique(y)
    return values, None
