"""Modules whose forward cannot be read back from the recorded graph alone.

``nn.Softplus`` returns ``x`` where ``beta x > threshold``: the mask is a comparison, which
records nothing, so its graph holds a constant mask. While exporting, such a module's forward
is recorded as one export-only primitive (computing exactly what the module computes), which
:data:`chainrule.onnx.onnx_table` maps to nodes that compare at run time. These primitives are
not in ``primitive_table``: they never appear in a graph outside an export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..autodiff import Primitive, no_grad
from ..nn import Softplus
from ..ops.define import apply
from ..tensor import _leaf

__all__ = ["module_rules", "recording_whole_modules"]


def _whole(name: str, n_params: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    """A forward that records ``module``'s own forward as one primitive ``name``."""
    prim = Primitive(name, (None,), f"{name} (export only)")

    def forward(module: Any, x: Any) -> Any:
        def run(xp: Any, xd: Any, *params: Any) -> Any:
            with no_grad():
                return type(module).forward(module, _leaf(xd))._data

        return apply(prim, run, (x,), n_params(module))

    return forward


#: Module type -> the forward used while tracing it for export.
module_rules: dict[type, Callable[[Any, Any], Any]] = {
    Softplus: _whole("softplus_threshold", lambda m: (float(m.beta), float(m.threshold))),
}


@contextmanager
def recording_whole_modules(module: Any) -> Iterator[None]:
    """Within the block, the submodules listed in :data:`module_rules` record one primitive.

    Examples
    --------
    >>> import chainrule as cr
    >>> sp = cr.nn.Softplus()
    >>> with recording_whole_modules(sp):
    ...     sp(cr.ones(2, requires_grad=True)).grad_fn.name
    'softplus_threshold'
    """
    patched = []
    mods = module.modules() if hasattr(module, "modules") else ()
    try:
        for m in mods:
            rule = module_rules.get(type(m))
            if rule is not None:
                m.__dict__["forward"] = rule.__get__(m)
                patched.append(m)
        yield
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)
