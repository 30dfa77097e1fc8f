"""Utilities for training networks: gradient clipping.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.nn.utils import clip_grad_norm_
>>> w = cr.nn.Parameter(cr.zeros(2)); w.grad = cr.tensor([6.0, 8.0])
>>> float(clip_grad_norm_([w], max_norm=5.0))
10.0
"""

from .clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
