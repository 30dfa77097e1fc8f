"""The ``chainrule`` command (also ``python -m chainrule``).

For now it reports the version and what is installed; ``chainrule train`` arrives with the
estimators.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Gradients by the chain rule over NumPy arrays. "
        "Library docs: README.md; example: python examples/logistic_regression.py",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print chainrule's, Python's and NumPy's versions")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> main(["version"])  # doctest: +ELLIPSIS
    chainrule ...
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"chainrule {__version__} (Python {sys.version.split()[0]}, NumPy {np.__version__})")
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
