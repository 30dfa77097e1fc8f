"""load_csv: features, targets, and an error with file, line and column for each kind of fault."""

from __future__ import annotations

import re

import numpy as np
import pytest

from chainrule.data import load_csv, load_iris


def write(tmp_path, text, name="table.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_string_target_becomes_sorted_class_codes(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2.5,cat\n3,-4e-1,dog\n5,6,cat\n7,8,bird\n")
    X, y, info = load_csv(path, target="label")
    assert X.dtype == np.float64 and X.tolist() == [[1, 2.5], [3, -0.4], [5, 6], [7, 8]]
    assert y.dtype == np.int64 and y.tolist() == [1, 2, 1, 0]
    assert info["classes"].tolist() == ["bird", "cat", "dog"]
    assert info["feature_names"] == ["a", "b"] and info["target_name"] == "label"
    np.testing.assert_array_equal(info["classes"][y], ["cat", "dog", "cat", "bird"])


def test_target_by_index_and_in_the_middle(tmp_path):
    path = write(tmp_path, "a,cls,b\n1,x,2\n3,y,4\n")
    X, y, info = load_csv(path, target=1)
    assert X.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]
    assert info["feature_names"] == ["a", "b"]
    X2, y2, info2 = load_csv(path, target=-2)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert info2["feature_names"] == ["a", "b"] and info2["target_name"] == "cls"


def test_default_target_is_the_last_column(tmp_path):
    X, y, info = load_csv(write(tmp_path, "a,b,c\n1,2,0\n3,4,1\n"))
    assert X.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]
    assert info["target_name"] == "c"


def test_integer_target_is_kept(tmp_path):
    path = write(tmp_path, "a,y\n0.5,3\n1.5,1\n2.5,3.0\n")
    _, y, info = load_csv(path, target="y")
    assert y.dtype == np.int64 and y.tolist() == [3, 1, 3]
    assert info["classes"].tolist() == [1, 3]


def test_real_target_stays_numeric(tmp_path):
    _, y, info = load_csv(write(tmp_path, "a,y\n1,0.25\n2,1.5\n"), target="y")
    assert y.dtype == np.float64 and y.tolist() == [0.25, 1.5] and info["classes"] is None


def test_no_target(tmp_path):
    X, y, info = load_csv(write(tmp_path, "a,b\n1,2\n3,4\n"), target=None)
    assert X.shape == (2, 2) and y is None and info["target_name"] is None


def test_quotes_delimiter_blank_lines_bom_no_header(tmp_path):
    text = '\ufeffx;"long; name";kind\n\n"1.5";2;"a;b"\n  \n3;4;"say ""hi"""\n\n'
    X, y, info = load_csv(write(tmp_path, text), target="kind", delimiter=";")
    assert info["feature_names"] == ["x", "long; name"]
    assert X.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert info["classes"].tolist() == ["a;b", 'say "hi"'] and y.tolist() == [0, 1]
    X, y, info = load_csv(write(tmp_path, "1,2,0\n3,4,1\n"), header=False)
    assert info["feature_names"] == ["x0", "x1"] and X.tolist() == [[1, 2], [3, 4]]


def test_round_trip_of_iris(tmp_path):
    X, y = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])
    lines = ["sl,sw,pl,pw,species"]
    lines += [",".join([*map(repr, row.tolist()), names[k]]) for row, k in zip(X, y)]
    Xr, yr, info = load_csv(write(tmp_path, "\n".join(lines) + "\n"), target="species")
    assert np.array_equal(Xr, X) and np.array_equal(yr, y)
    assert info["classes"].tolist() == names.tolist()


# ------------------------------------------------------------------------------ faults
def fault(tmp_path, text, **kwargs):
    path = write(tmp_path, text, name="bad.csv")
    with pytest.raises(ValueError) as exc:
        load_csv(path, **kwargs)
    message = str(exc.value)
    assert str(path) in message
    return message


def test_wrong_field_count_names_the_line(tmp_path):
    message = fault(tmp_path, "a,b,c\n1,2,0\n1,2\n3,4,1\n")
    assert "line 3: expected 3 fields (as in the header), got 2" in message
    message = fault(tmp_path, "a,b,c\n1,2,0\n\n1,2,3,4\n")
    assert "line 4: expected 3 fields" in message and "got 4" in message


@pytest.mark.parametrize("missing", ["", "NA", "nan", " N/A ", "?", "null"])
def test_missing_feature_value(tmp_path, missing):
    message = fault(tmp_path, f"a,b,c\n1,2,0\n3,{missing},1\n")
    assert re.search(r"line 3, column 'b' \(column 2\): missing value", message), message


def test_non_numeric_feature(tmp_path):
    message = fault(tmp_path, "a,b,c\n1,2,0\n3,4,1\n5x,6,0\n")
    assert "line 4, column 'a' (column 1): '5x' is not a number" in message


def test_line_numbers_count_quoted_line_breaks(tmp_path):
    message = fault(tmp_path, 'a,b,c\n1,2,"two\nlines"\n3,oops,1\n')
    assert "line 4, column 'b'" in message


def test_missing_target_value(tmp_path):
    message = fault(tmp_path, "a,label\n1,x\n2,\n", target="label")
    assert "line 3, column 'label' (column 2): missing target value ''" in message


def test_unknown_target_column_lists_the_columns(tmp_path):
    message = fault(tmp_path, "a,b,c\n1,2,0\n", target="species")
    assert "has no column 'species'; the columns are ['a', 'b', 'c']" in message


def test_target_index_out_of_range(tmp_path):
    message = fault(tmp_path, "a,b\n1,2\n", target=2)
    assert "target index 2 is out of range" in message


def test_empty_and_header_only_files(tmp_path):
    assert "is empty" in fault(tmp_path, "")
    assert "has no data rows" in fault(tmp_path, "a,b,c\n\n")


def test_not_utf8(tmp_path):
    message = fault(tmp_path, b"a,b\n1,\xff\xfe\n")
    assert "is not UTF-8 text" in message


def test_name_target_without_header(tmp_path):
    message = fault(tmp_path, "1,2\n", target="y", header=False)
    assert "target='y' is a column name, but header=False" in message


@pytest.mark.parametrize("cell", ["+nan", "-nan", "inf", "-Infinity", "1e400"])
def test_signed_nans_and_infinities_are_refused_with_line_and_column(tmp_path, cell):
    path = tmp_path / "t.csv"
    path.write_text(f"a,b,label\n1,2,x\n3,{cell},y\n")
    with pytest.raises(ValueError, match=r"line 3, column 'b' \(column 2\)"):
        load_csv(path, target="label")
