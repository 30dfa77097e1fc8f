"""Neural networks: ``Module``, ``Parameter``, layers, losses, initialisers, ``functional``.

Examples
--------
>>> import chainrule as cr
>>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
>>> model(cr.zeros(2, 4)).shape
(2, 3)
"""

from .module import IncompatibleKeys, Module, Parameter

__all__ = ["Module", "Parameter", "IncompatibleKeys"]
