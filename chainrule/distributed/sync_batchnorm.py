"""SyncBatchNorm: batch normalisation whose statistics are those of the whole global batch.

With DistributedDataParallel every rank sees only its share of a batch; plain BatchNorm would
normalise with that share's mean and variance. SyncBatchNorm sums the per-channel sums over the
ranks (:func:`~chainrule.distributed.all_reduce`, whose gradient is summed over the ranks too),
so training on R ranks of b rows equals training one process on R*b rows with BatchNorm::

    n    = sum_r n_r                         (rows x spatial positions, all ranks)
    mean = all_reduce(sum x) / n
    var  = all_reduce(sum (x - mean)^2) / n  (biased, as BatchNorm normalises)
    y    = (x - mean) / sqrt(var + eps) * weight + bias

The running statistics are updated from the global ``mean`` and ``var * n / (n - 1)``, the same
on every rank. In evaluation mode, or in a group of one, it is BatchNorm exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.module import Module
from ..nn.normalization import _BatchNorm
from . import process_group as pg
from .functional import all_reduce

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over the global batch of all ranks, for (N, C, ...) inputs.

    Parameters are those of :class:`chainrule.nn.BatchNorm1d`.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.distributed import SyncBatchNorm
    >>> bn = SyncBatchNorm(3)
    >>> x = cr.randn(8, 3)
    >>> bool((bn(x) - cr.nn.BatchNorm1d(3)(x)).abs().max() < 1e-6)
    True
    """

    def _check_input_dim(self, x: Any) -> None:
        if len(x.shape) < 2:
            raise ValueError(
                f"SyncBatchNorm: expected an input of 2 or more dimensions (N, C, ...), "
                f"got shape {tuple(x.shape)}"
            )

    def forward(self, x: Any) -> Any:
        if not self.training or pg.world_size() == 1:
            return super().forward(x)
        self._check_input_dim(x)
        shape = tuple(x.shape)
        c = self.num_features
        if shape[1] != c:
            raise ValueError(
                f"SyncBatchNorm: input of shape {shape} has {shape[1]} channels (axis 1), "
                f"expected num_features={c}"
            )
        axes = (0, *range(2, len(shape)))
        view = (1, c) + (1,) * (len(shape) - 2)
        n = float(pg.allreduce_(np.array([x.size // c], dtype=np.int64), op="sum")[0][0])
        if n < 2:
            raise ValueError(
                f"SyncBatchNorm: the global batch has {int(n)} value(s) per channel; training "
                f"needs at least 2"
            )
        mean = all_reduce(x.sum(axis=axes)) / n
        xc = x - mean.reshape(view)
        var = all_reduce((xc * xc).sum(axis=axes)) / n
        y = xc / (var + self.eps).sqrt().reshape(view)
        p, b = self._parameters, self._buffers
        if p["weight"] is not None:
            y = y * p["weight"].reshape(view)
        if p["bias"] is not None:
            y = y + p["bias"].reshape(view)
        if self.track_running_stats and b["running_mean"] is not None:
            count = b["num_batches_tracked"]
            factor = 1.0 / float(count + 1) if self.momentum is None else self.momentum
            rm, rv = b["running_mean"], b["running_var"]
            rm[...] = (1 - factor) * rm + factor * mean.numpy()
            rv[...] = (1 - factor) * rv + factor * var.numpy() * (n / (n - 1))
            count += 1
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """Replace every BatchNorm of ``module`` (in place) by a SyncBatchNorm with its state.

        Examples
        --------
        >>> import chainrule as cr
        >>> from chainrule.distributed import SyncBatchNorm
        >>> net = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.BatchNorm1d(3))
        >>> type(SyncBatchNorm.convert_sync_batchnorm(net)[1]).__name__
        'SyncBatchNorm'
        """
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            return cls._from(module)
        for parent in module.modules():
            for name, child in list(parent._modules.items()):
                if isinstance(child, _BatchNorm) and not isinstance(child, cls):
                    parent._modules[name] = cls._from(child)
        return module

    @classmethod
    def _from(cls, bn: _BatchNorm) -> SyncBatchNorm:
        new = cls.__new__(cls)
        Module.__init__(new)
        for key, value in bn.__dict__.items():
            if key not in ("_parameters", "_buffers", "_modules", "_non_persistent"):
                object.__setattr__(new, key, value)
        new._parameters.update(bn._parameters)  # the same Parameter objects
        new._buffers.update(bn._buffers)
        new._non_persistent.update(bn._non_persistent)
        return new
