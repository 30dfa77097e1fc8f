"""pytest: the doctests of chainrule.onnx run only where the [onnx] extra is installed."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("onnx") else ["*.py"]
