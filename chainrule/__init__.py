"""chainrule: gradients by the chain rule over NumPy arrays, and the models they fit.

Examples
--------
>>> import chainrule as cr
>>> x = cr.tensor([1.0, 2.0], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
tensor([2., 4.])
>>> cr.grad(lambda x: (x ** 3).sum())(cr.tensor([2.0]))
tensor([12.])
"""

from __future__ import annotations

import numpy as _np

from . import cuda, data, io, linalg, nn, optim, random, utils
from .autodiff import (
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_anomaly_enabled,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .backend import get_default_dtype, set_default_dtype
from .compile import TraceError as TraceError
from .compile import compile as compile  # noqa: A004 - cr.compile, as torch.compile
from .devices import device
from .distance import cdist
from .dlpack import from_dlpack
from .explain import explain
from .ops import *  # noqa: F403
from .ops import __all__ as _ops_all
from .ops import cat
from .random import Generator, manual_seed, randperm
from .serialization import load, save
from .tensor import (
    Tensor,
    arange,
    as_tensor,
    bmm,
    chunk,
    clamp,
    empty,
    eye,
    flatten,
    from_numpy,
    full,
    full_like,
    is_tensor,
    linspace,
    mm,
    normal,
    numel,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    unbind,
    zeros,
    zeros_like,
)
from .transforms import grad, hessian, jacobian, jvp, value_and_grad, vjp

__version__ = "0.1.0"

# PyTorch's dtype names, as NumPy dtypes (cr.float32 == np.float32). The ones that shadow
# Python's builtins (float, int, bool) are attributes only, not exported by `import *`.
float16 = half = _np.dtype(_np.float16)
float32 = _np.dtype(_np.float32)
float64 = double = _np.dtype(_np.float64)
int8 = _np.dtype(_np.int8)
int16 = short = _np.dtype(_np.int16)
int32 = _np.dtype(_np.int32)
int64 = long = _np.dtype(_np.int64)
uint8 = _np.dtype(_np.uint8)
float = float32  # noqa: A001
int = int32  # noqa: A001
bool = _np.dtype(_np.bool_)  # noqa: A001
pow = power  # noqa: A001, F405 - torch.pow; an attribute only, like float and int

__all__ = [
    "data", "io", "linalg", "optim",
    "nn", "Tensor", "tensor", "as_tensor", "zeros", "ones", "full", "empty", "zeros_like",
    "ones_like", "full_like", "arange", "linspace", "eye", "rand", "randn", "random",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly",
    "is_anomaly_enabled", "inference_mode", "is_inference_mode_enabled", "get_default_dtype",
    "set_default_dtype", "__version__",
    "grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "explain",
    "cat", "from_numpy", "from_dlpack", "manual_seed", "rand_like", "randn_like", "randint",
    "normal", "chunk", "unbind", "mm", "bmm", "clamp", "flatten", "numel", "is_tensor",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
    "cuda", "utils", "device", "cdist", "Generator", "randperm", "save", "load",
] + [n for n in _ops_all if n != "primitive_table"]  # fmt: skip

#: Subpackages with optional dependencies, imported on first use: ``cr.viz.explain_html``,
#: ``cr.onnx.export``, ``cr.distributed.init`` work after a plain ``import chainrule``.
_LAZY = ("viz", "onnx", "distributed", "tables", "estimators")


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
