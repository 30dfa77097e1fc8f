"""read_table: delimiters, decimal commas, encodings, quotes, BOM, CRLF, Parquet, bad files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chainrule.tables import read_table, sniff_delimiter

ROWS = [["1.5", "red", "10"], ["2.25", "blue", "12"], ["3", "red", "9"]]


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_sniffed(tmp_path, delimiter):
    text = delimiter.join(["size", "colour", "price"]) + "\n"
    text += "".join(delimiter.join(r) + "\n" for r in ROWS)
    t = read_table(_write(tmp_path / "t.txt", text))
    assert t.delimiter == delimiter
    assert list(t.frame.columns) == ["size", "colour", "price"]
    assert t.frame["size"].tolist() == [1.5, 2.25, 3.0]
    assert t.frame["colour"].tolist() == ["red", "blue", "red"]
    assert t.frame["price"].tolist() == [10, 12, 9]


def test_tsv_and_explicit_delimiter(tmp_path):
    p = _write(tmp_path / "t.tsv", "a\tb\n1\t2\n3\t4\n")
    assert read_table(p).delimiter == "\t"
    # a comma inside a field does not fool an explicit delimiter
    q = _write(tmp_path / "q.txt", "a;b\n1,5;x,y\n2,5;z\n")
    t = read_table(q, delimiter=";", decimal=",")
    assert t.frame["a"].tolist() == [1.5, 2.5] and t.frame["b"].tolist() == ["x,y", "z"]


def test_decimal_comma_is_recognised_in_semicolon_files(tmp_path):
    p = _write(tmp_path / "eu.csv", "x;y;label\n1,5;-2,25;a\n3,0;4,5;b\n")
    t = read_table(p)
    assert (t.delimiter, t.decimal) == (";", ",")
    assert t.frame["x"].tolist() == [1.5, 3.0] and t.frame["y"].tolist() == [-2.25, 4.5]
    assert any("decimal comma" in n for n in t.notes)
    # and can be turned off
    assert read_table(p, decimal=".").frame["x"].tolist() == ["1,5", "3,0"]


def test_quotes_bom_crlf_and_missing_spellings(tmp_path):
    text = ('\ufeff"name","value","note"\r\n"a, b",1,"said ""hi"""\r\n'
            "c,NA,?\r\nd,,null\r\ne,nan,N/A\r\n")
    t = read_table(_write(tmp_path / "q.csv", text))
    assert list(t.frame.columns) == ["name", "value", "note"]  # the BOM is not in the name
    assert t.frame["name"].tolist() == ["a, b", "c", "d", "e"]
    assert t.frame["note"].iloc[0] == 'said "hi"'
    assert t.frame["value"].isna().tolist() == [False, True, True, True]
    assert t.frame["note"].isna().tolist() == [False, True, True, True]


def test_plus_minus_nan_are_missing(tmp_path):
    t = read_table(_write(tmp_path / "n.csv", "a,b\n1,+nan\n2,-nan\n3,4\n"))
    assert t.frame["b"].isna().tolist() == [True, True, False]


def test_encodings(tmp_path):
    p = _write(tmp_path / "latin.csv", "ville,n\nZürich,1\nGenève,2\n", "latin-1")
    with pytest.raises(ValueError, match=r"not valid utf-8 text .*--encoding latin-1"):
        read_table(p)
    assert read_table(p, encoding="latin-1").frame["ville"].tolist() == ["Zürich", "Genève"]
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        read_table(p, encoding="klingon")


def test_infinite_numbers_are_refused_with_row_and_column(tmp_path):
    for cell in ("inf", "Infinity", "1e400", "-inf"):
        p = _write(tmp_path / "i.csv", f"a,b\n1,2\n3,{cell}\n")
        with pytest.raises(ValueError, match=r"row 2 \(line 3\), column 'b'.*not a finite"):
            read_table(p)
        t = read_table(p, inf_as_missing=True)
        assert t.frame["b"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,a,b\n1,2,3\n", "duplicate column name(s) 'a'"),
        ("a,,b\n1,2,3\n", "column(s) 2 of the header have no name"),
        ("", "is empty"),
        ("a,b\n", "no data rows"),
        ("a,b\n1,2,3\n", "a row has more fields than the header (2)"),
        ("a,b\n1,2\n3,4,5\n", "Expected 2 fields in line 3"),
    ],
)
def test_bad_tables_are_refused(tmp_path, text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_table(_write(tmp_path / "bad.csv", text))


def test_binary_and_endless_first_line_are_refused_without_reading_it_all(tmp_path):
    p = tmp_path / "nul.csv"
    p.write_bytes(b"a,b\n" + b"\x00" * 100)
    with pytest.raises(ValueError, match="contains NUL bytes"):
        read_table(p)
    q = tmp_path / "line.csv"
    q.write_bytes(b"x" * (2 << 20))  # 2 MiB, no newline
    with pytest.raises(ValueError, match="first line is longer than 1024 KiB"):
        read_table(q)


def test_missing_file_and_bad_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_table(tmp_path / "none.csv")
    p = _write(tmp_path / "t.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="one character"):
        read_table(p, delimiter=";;")
    with pytest.raises(ValueError, match="'.' or ','"):
        read_table(p, decimal=":")


def test_text_columns_keep_labels_as_written(tmp_path):
    p = _write(tmp_path / "t.csv", "x,label\n1,007\n2,99999999999999999999\n3,NA\n")
    t = read_table(p, text_columns=("label",))
    assert t.frame["label"].tolist()[:2] == ["007", "99999999999999999999"]
    assert t.frame["label"].isna().tolist() == [False, False, True]


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0], "c": ["a", None, "b"], "y": [1, 2, 3]})
    p = tmp_path / "t.parquet"
    frame.to_parquet(p)
    t = read_table(p, text_columns=("y",))
    assert t.delimiter is None and t.frame["y"].tolist() == ["1", "2", "3"]
    assert t.frame["x"].isna().tolist() == [False, True, False]


def test_sniffing_prefers_the_file_types_delimiter_on_a_tie():
    assert sniff_delimiter(["a"], ".tsv") == "\t" and sniff_delimiter(["a"], ".csv") == ","


def test_two_hundred_thousand_rows_are_read(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200_000, 20)), columns=[f"c{i}" for i in range(20)])
    p = tmp_path / "big.csv"
    frame.to_csv(p, index=False)
    t = read_table(p)
    assert t.frame.shape == (200_000, 20)
    np.testing.assert_allclose(t.frame.to_numpy(), frame.to_numpy(), rtol=1e-15)
