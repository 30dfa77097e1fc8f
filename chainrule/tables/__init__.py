"""A user's table as a model sees it: reading, column kinds, fitted preprocessing, the task.

``read_table`` reads CSV/TSV/TXT/Parquet files with pandas (``pip install "chainrule[cli]"``);
``TableEncoder`` and ``Target`` turn its columns into arrays and back, with their fitted state
kept as JSON in ``model.json``. The core of chainrule does not import this package.

Examples
--------
>>> import pandas as pd
>>> from chainrule.tables import TableEncoder
>>> frame = pd.DataFrame({"x": [1.0, 3.0, 2.0], "c": ["a", "b", "a"]})
>>> enc = TableEncoder.fit(frame, [0, 1, 2])
>>> enc.output_names
['x', 'c=a', 'c=b']
"""

from .columns import TableEncoder, Target
from .read import MISSING, Table, as_text, file_sha256, read_table, sniff_delimiter

__all__ = [
    "Table", "TableEncoder", "Target", "read_table", "sniff_delimiter", "as_text", "file_sha256",
    "MISSING",
]  # fmt: skip
