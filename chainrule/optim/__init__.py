"""Optimisers (SGD, Adam, AdamW, RMSprop, Adagrad), learning-rate schedules, and
:func:`minimize`, a bridge to ``scipy.optimize`` for full-batch L-BFGS.

The optimisers follow ``torch.optim``: same names, arguments, defaults and update formulas.

Examples
--------
>>> import chainrule as cr
>>> w = cr.nn.Parameter(cr.tensor([3.0]))
>>> opt = cr.optim.SGD([w], lr=0.25)
>>> for _ in range(3):
...     opt.zero_grad()
...     (w * w).sum().backward()
...     opt.step()
>>> w.tolist()  # each step halves w
[0.375]
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .minimize import minimize
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "lr_scheduler",
    "minimize",
]
