"""Reading a user's table: CSV, TSV or Parquet, through pandas' readers, with checks first.

The delimiter is sniffed from the first lines (``,`` ``;`` tab ``|``) unless given; a ``;`` table
whose numbers are written ``3,5`` is read with a decimal comma. Missing values are the usual
spellings (empty, NA, N/A, NaN, null, None, ?, and their case variants). Before pandas reads the
file, the header is checked: no NUL bytes (a binary file), a first line of bounded length, no
empty or duplicate column names. After it, numeric cells must be finite: ``inf`` or ``1e400``
is an error naming the row and the column (or a missing value, with ``inf_as_missing``).
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Table", "read_table", "MISSING", "file_sha256"]

#: Cell texts read as "no value" (pandas compares them exactly, so the case variants are listed).
MISSING = sorted(
    {v for base in ("", "na", "n/a", "nan", "+nan", "-nan", "null", "none", "?", "#n/a")
     for v in (base, base.upper(), base.capitalize())}
)  # fmt: skip
_DELIMITERS = (",", ";", "\t", "|")
#: The header line must fit in this many bytes (a 2 GB file with no newline is not a table).
MAX_HEADER_BYTES = 1 << 20
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".dat")


@dataclass
class Table:
    """A table as read from a file: the pandas DataFrame and how the file was read.

    ``frame`` has the file's column names; numeric columns are float64 or int64, text columns
    hold strings, missing cells are NaN/None. ``delimiter`` is None for Parquet.
    """

    frame: Any
    path: str
    delimiter: str | None
    decimal: str
    sha256: str
    notes: list[str] = field(default_factory=list)


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError(
            'reading tables needs pandas: pip install "chainrule[cli]" (or pip install pandas)'
        ) from None
    return pandas


def file_sha256(path: str) -> str:
    """The SHA-256 of a file's bytes, in hex (read in 1 MiB blocks).

    Examples
    --------
    >>> import tempfile
    >>> p = tempfile.mktemp()
    >>> _ = open(p, "wb").write(b"abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _head(path: str, encoding: str, option: str) -> tuple[str, list[str]]:
    """The first 64 KiB of the file as text, and its header line, after the byte checks."""
    with open(path, "rb") as f:
        raw = f.read(MAX_HEADER_BYTES)
        more = f.read(1) != b""
    if not raw.strip():
        raise ValueError(f"{path} is empty (expected a header row and data rows)")
    if b"\x00" in raw:
        raise ValueError(f"{path} is not a text table: it contains NUL bytes (a binary file?)")
    if b"\n" not in raw and b"\r" not in raw and more:
        raise ValueError(
            f"{path}: the first line is longer than {MAX_HEADER_BYTES // 1024} KiB; "
            "expected a header row of column names"
        )
    sample = raw[: 1 << 16]
    cut = max(sample.rfind(b"\n"), 0) if len(raw) > len(sample) else len(sample)
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = sample[: cut or len(sample)].decode(codec)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not valid {encoding} text (byte {sample[exc.start]:#04x} at offset "
            f"{exc.start}); pass {option} with the file's encoding, e.g. {option} latin-1"
        ) from None
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r} ({option})") from None
    lines = text.splitlines()
    return text, lines


def sniff_delimiter(lines: list[str], suffix: str = "") -> str:
    """The delimiter among ``, ; tab |`` that splits the first lines into the most, equally
    many, fields (ties go to the file type's usual one: tab for .tsv, else comma).

    Examples
    --------
    >>> sniff_delimiter(["a;b;c", "1,5;2;3"])
    ';'
    >>> sniff_delimiter(["a\\tb", "1\\t2"])
    '\\t'
    """
    sample = [line for line in lines[:50] if line.strip()]
    preferred = "\t" if suffix == ".tsv" else ","
    best, best_fields = preferred, 1
    for d in (preferred, *[c for c in _DELIMITERS if c != preferred]):
        counts = {len(row) for row in _csv_rows(sample, d)}
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields = d, n
    return best


def _csv_rows(lines: list[str], delimiter: str) -> list[list[str]]:
    """``lines`` split by the csv module; a field over its size limit gives no rows."""
    try:
        return list(csv.reader(lines, delimiter=delimiter))
    except csv.Error:
        return []


def header_names(lines: list[str], delimiter: str, path: str) -> list[str]:
    """The stripped column names of the first line, checked (see :func:`_check_names`)."""
    try:
        names = next(csv.reader(lines[:1], delimiter=delimiter), [])
    except csv.Error as exc:
        raise ValueError(f"{path}: the header row cannot be read: {exc}") from None
    names = [n.strip() for n in names]
    _check_names(names, path)
    return names


def _decimal_comma(lines: list[str], delimiter: str) -> bool:
    """Whether a non-comma table writes its numbers with a decimal comma (``3,5``)."""
    if delimiter == ",":
        return False
    cells = [c.strip() for row in _csv_rows(lines[1:50], delimiter) for c in row]
    comma = sum(1 for c in cells if _is_decimal_comma(c))
    return comma > 0 and comma >= 0.2 * sum(1 for c in cells if c)


def _is_decimal_comma(cell: str) -> bool:
    left, sep, right = cell.lstrip("+-").partition(",")
    return bool(sep) and left.isdigit() and right.isdigit()


def _check_names(names: list[str], path: str) -> None:
    empty = [i + 1 for i, n in enumerate(names) if not n.strip()]
    if empty:
        raise ValueError(
            f"{path}: column(s) {', '.join(map(str, empty))} of the header have no name; "
            "every column needs a unique name"
        )
    dup = sorted(n for n, k in Counter(names).items() if k > 1)
    if dup:
        raise ValueError(f"{path}: duplicate column name(s) {', '.join(map(repr, dup))}")


def read_table(
    path: str | os.PathLike[str],
    *,
    delimiter: str | None = None,
    decimal: str | None = None,
    encoding: str = "utf-8",
    text_columns: tuple[str, ...] = (),
    inf_as_missing: bool = False,
) -> Table:
    """Read a CSV/TSV/TXT (or Parquet) table with pandas, after checking its header.

    Parameters
    ----------
    path : str or path-like
        ``.csv``, ``.tsv``, ``.txt`` (any delimiter), or ``.parquet`` (needs pyarrow).
    delimiter : str, optional
        One character; sniffed from the first lines when None.
    decimal : str, optional
        ``"."`` or ``","``; when None, a decimal comma is recognised in ``;``-separated files.
    encoding : str, default "utf-8"
        The text encoding (a UTF-8 byte-order mark is skipped).
    text_columns : tuple of str
        Columns read as text whatever they hold (the target column, so that its labels stay
        exactly as written).
    inf_as_missing : bool, default False
        Read infinite numbers (``inf``, ``1e400``) as missing values instead of refusing them.

    Returns
    -------
    Table

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        An empty or binary file, an undecodable one, an empty or duplicate column name, a row
        with too many fields, an infinite number.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(p, "w").write("size;colour;price\\n1,5;red;10\\n2,0;NA;12\\n")
    >>> t = read_table(p)
    >>> t.delimiter, t.decimal, t.frame["size"].tolist(), t.frame["colour"].isna().tolist()
    (';', ',', [1.5, 2.0], [False, True])
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    pd = _pandas()
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".parquet":
        return _read_parquet(pd, path, text_columns, inf_as_missing)
    if delimiter is not None and (len(delimiter) != 1 or delimiter in "\r\n\"'"):
        raise ValueError(f"--delimiter must be one character (not a quote), got {delimiter!r}")
    if decimal not in (None, ".", ","):
        raise ValueError(f"--decimal must be '.' or ',', got {decimal!r}")
    _, lines = _head(path, encoding, "--encoding")
    notes = []
    if delimiter is None:
        delimiter = sniff_delimiter(lines, suffix)
    if decimal is None:
        decimal = "," if _decimal_comma(lines, delimiter) else "."
        if decimal == ",":
            notes.append(f"{path}: numbers are read with a decimal comma (--decimal . to change)")
    if decimal == delimiter:
        raise ValueError(f"the decimal mark and the delimiter are both {delimiter!r}")
    names = header_names(lines, delimiter, path)
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        with warnings.catch_warnings():
            # pandas only warns when the first data row has more fields than the header
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path, sep=delimiter, decimal=decimal, encoding=codec, na_values=MISSING,
                keep_default_na=False, skipinitialspace=True, header=0, names=names,
                index_col=False, dtype={c: str for c in text_columns if c in names},
                engine="c", on_bad_lines="error", low_memory=False,
            )  # fmt: skip
    except pd.errors.ParserWarning:
        raise ValueError(
            f"{path}: a row has more fields than the header ({len(names)})"
        ) from None
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not valid {encoding} text ({exc.reason} at byte {exc.start}); "
            "pass --encoding with the file's encoding, e.g. --encoding latin-1"
        ) from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: {' '.join(str(exc).split())}") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} has no columns") from None
    if len(frame) == 0:
        raise ValueError(f"{path} has a header but no data rows")
    _check_finite(frame, path, inf_as_missing)
    return Table(frame, path, delimiter, decimal, file_sha256(path), notes)


def _read_parquet(pd: Any, path: str, text_columns: tuple[str, ...], inf_as_missing: bool) -> Table:
    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise ImportError('reading .parquet needs pyarrow: pip install pyarrow') from None
    except Exception as exc:  # pyarrow's errors have no common base worth naming
        raise ValueError(f"{path} is not a readable Parquet file: {exc}") from None
    names = [str(c) for c in frame.columns]
    _check_names(names, path)
    frame.columns = names
    for c in text_columns:
        if c in frame:
            col = frame[c]
            frame[c] = col.where(col.isna(), col.astype(str))
    if len(frame) == 0:
        raise ValueError(f"{path} has no data rows")
    _check_finite(frame, path, inf_as_missing)
    return Table(frame, path, None, ".", file_sha256(path))


def _check_finite(frame: Any, path: str, inf_as_missing: bool) -> None:
    for name in frame.columns:
        col = frame[name]
        if col.dtype.kind != "f":
            continue
        values = col.to_numpy()
        bad = np.isinf(values)
        if bad.any():
            if inf_as_missing:
                frame[name] = col.where(~bad)
                continue
            row = int(np.argmax(bad))
            raise ValueError(
                f"{path}, row {row + 1} (line {row + 2}), column {name!r}: {values[row]} is "
                "not a finite number (pass --inf-as-missing to treat infinities as missing)"
            )


def as_text(values: Any) -> np.ndarray:
    """Cells as an object array of stripped strings, None where missing.

    Examples
    --------
    >>> as_text(np.array([" a", None, 3], dtype=object)).tolist()
    ['a', None, '3']
    """
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = None if v is None or (isinstance(v, float) and v != v) else str(v).strip()
    return out
