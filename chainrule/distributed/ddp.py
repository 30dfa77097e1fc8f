"""DistributedDataParallel: one model per rank, gradients averaged during ``backward()``.

PyTorch's design, on MPI. At wrap time rank 0's parameters and buffers are broadcast, so every
rank starts from the same model. The parameters that require grad are packed, in reverse order
of registration (roughly the order in which backward finishes them), into flat buckets of one
dtype and at most ``bucket_cap_mb`` megabytes. Each parameter carries a post-accumulate-grad
hook (:meth:`chainrule.Tensor.register_post_accumulate_grad_hook`): when the backward walk has
finished a parameter's gradient, the hook copies it into its bucket; when a bucket is full its
sum over the ranks is started with a non-blocking ``MPI_Iallreduce`` while the walk goes on with
the earlier layers. Buckets are started strictly in bucket order (MPI requires every rank to
start collectives in the same order). At the end of the walk a queued callback starts what is
left, waits for all buckets, divides by the world size and writes the means back into
``.grad``. Every rank then holds the same gradient and, stepping the same optimiser, the same
parameters.

``overlap=False`` starts every allreduce at the end of the walk instead (the reference point for
the benchmark of what overlapping hides); ``bucket_cap_mb=0`` gives every parameter its own
allreduce (no bucketing).

Inside :meth:`DistributedDataParallel.no_sync` the hooks do nothing and gradients accumulate
locally; the first backward outside it averages the accumulated gradients (gradient
accumulation over several micro-batches with a single allreduce).

A parameter that received no gradient on this rank in a synchronised backward contributes
zeros; after the average it has a ``.grad`` (the mean of the other ranks' gradients, zeros if
none had one).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..autodiff import queue_callback
from ..nn.module import Module
from ..tensor import _leaf
from . import process_group as pg

__all__ = ["DistributedDataParallel"]

#: id(parameter) -> the wrapper that averages its gradient (a weak reference).
_wrapped: dict[int, Any] = {}


class _Bucket:
    """A flat array holding the gradients of some parameters of one dtype."""

    __slots__ = ("params", "slices", "flat", "ready", "request", "arrival")

    def __init__(self, params: list[Any], dtype: np.dtype) -> None:
        self.params = params
        self.slices = []
        start = 0
        for p in params:
            self.slices.append((start, start + p._data.size, p._data.shape))
            start += p._data.size
        self.flat = np.zeros(start, dtype=dtype)
        self.ready = 0
        self.request: Any = None
        self.arrival: Any = None


class DistributedDataParallel(Module):
    """Data-parallel training: wrap the model, train each rank on its own shard of the data.

    Parameters
    ----------
    module : Module
        The model; every rank builds the same architecture (rank 0's values win).
    bucket_cap_mb : float, default 25
        Largest bucket, in megabytes (2**20 bytes); 0 gives each parameter its own allreduce.
    overlap : bool, default True
        Start each bucket's allreduce as soon as backward has produced its gradients (False:
        all of them at the end of backward).
    broadcast_buffers : bool, default True
        Copy rank 0's buffers (BatchNorm's running statistics) to every rank at each forward in
        training mode, as PyTorch does.
    timeout : float, optional
        Seconds to wait for a gradient allreduce before raising
        :class:`~chainrule.distributed.CollectiveTimeout`, which names the ranks that did not
        arrive (default: the timeout given to :func:`~chainrule.distributed.init`).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.distributed import DistributedDataParallel
    >>> model = DistributedDataParallel(cr.nn.Linear(3, 1))
    >>> loss = model(cr.ones(4, 3)).sum(); loss.backward()
    >>> model.module.weight.grad.tolist()
    [[4.0, 4.0, 4.0]]
    """

    def __init__(
        self,
        module: Module,
        bucket_cap_mb: float = 25.0,
        overlap: bool = True,
        broadcast_buffers: bool = True,
        timeout: float | None = None,
    ) -> None:
        name = "DistributedDataParallel"
        if not isinstance(module, Module):
            raise TypeError(
                f"{name}: module must be a chainrule Module, got {type(module).__name__}"
            )
        if (
            isinstance(bucket_cap_mb, bool)
            or not isinstance(bucket_cap_mb, (int, float))
            or not bucket_cap_mb >= 0
        ):
            raise ValueError(f"{name}: bucket_cap_mb must be a number >= 0, got {bucket_cap_mb!r}")
        super().__init__()
        self.module = module
        object.__setattr__(self, "bucket_cap_mb", float(bucket_cap_mb))
        object.__setattr__(self, "overlap", bool(overlap))
        object.__setattr__(self, "broadcast_buffers", bool(broadcast_buffers))
        group = pg._ensure()
        object.__setattr__(self, "_timeout", pg._timeout_of(group, timeout, name))
        object.__setattr__(self, "_require_sync", True)
        object.__setattr__(self, "_buckets", [])
        object.__setattr__(self, "_bucket_of", {})
        object.__setattr__(self, "_handles", [])
        object.__setattr__(self, "_next", 0)
        object.__setattr__(self, "_in_backward", False)
        object.__setattr__(self, "_launched_early", 0)
        params = [p for p in module.parameters() if p.requires_grad]
        for p in params:
            if not isinstance(p._data, np.ndarray):
                raise TypeError(
                    f"{name}: parameter of shape {p.shape} and dtype {p.dtype} is not on the "
                    f"CPU; MPI reduces host arrays (move the model to the CPU)"
                )
        for p in params:
            owner = _wrapped.get(id(p))
            if owner is not None and owner() is not None:
                raise RuntimeError(
                    f"{name}: a parameter of shape {p.shape} already belongs to another "
                    f"DistributedDataParallel; its gradient would be averaged twice (wrap a "
                    f"model once, or call remove_hooks() on the old wrapper)"
                )
        pg.broadcast_parameters(module, timeout=self._timeout)
        if group.size > 1:
            self._build_buckets(params)
            for p in params:
                _wrapped[id(p)] = weakref.ref(self)

    def remove_hooks(self) -> None:
        """Stop averaging gradients: unregister the hooks (the module keeps working alone).

        Examples
        --------
        >>> import chainrule as cr
        >>> from chainrule.distributed import DistributedDataParallel
        >>> ddp = DistributedDataParallel(cr.nn.Linear(2, 1)); ddp.remove_hooks()
        """
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for b in self._buckets:
            for p in b.params:
                if _wrapped.get(id(p)) is not None and _wrapped[id(p)]() is self:
                    del _wrapped[id(p)]
        self._buckets.clear()
        self._bucket_of.clear()

    def _build_buckets(self, params: list[Any]) -> None:
        cap = self.bucket_cap_mb * 2**20
        open_buckets: dict[np.dtype, list[Any]] = {}
        sizes: dict[np.dtype, int] = {}
        ordered: list[tuple[list[Any], np.dtype]] = []
        for p in reversed(params):  # backward finishes the last layers first
            dtype = p._data.dtype
            current = open_buckets.get(dtype)
            nbytes = p._data.nbytes
            if current is None or (current and sizes[dtype] + nbytes > cap):
                current = []
                open_buckets[dtype] = current
                sizes[dtype] = 0
                ordered.append((current, dtype))
            current.append(p)
            sizes[dtype] += nbytes
        for index, (members, dtype) in enumerate(ordered):
            bucket = _Bucket(members, dtype)
            self._buckets.append(bucket)
            for slot, p in enumerate(members):
                self._bucket_of[id(p)] = (index, slot)
                self._handles.append(p.register_post_accumulate_grad_hook(self._grad_ready))

    # ------------------------------------------------------------------ forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._in_backward:  # a backward raised before its end: start afresh
            self._reset()
        if self.broadcast_buffers and self.training and self._buckets:
            pg.broadcast_buffers(self.module, timeout=self._timeout)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, backward accumulates gradients locally without communicating.

        Examples
        --------
        >>> import chainrule as cr
        >>> from chainrule.distributed import DistributedDataParallel
        >>> model = DistributedDataParallel(cr.nn.Linear(1, 1, bias=False))
        >>> with model.no_sync():
        ...     model(cr.ones(1, 1)).sum().backward()
        >>> model(cr.ones(1, 1)).sum().backward()  # averages the sum of both
        >>> model.module.weight.grad.tolist()
        [[2.0]]
        """
        previous = self._require_sync
        object.__setattr__(self, "_require_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_require_sync", previous)

    # ------------------------------------------------------------------ the hooks
    def _grad_ready(self, p: Any) -> None:
        if not self._require_sync:
            return
        if not self._in_backward:
            object.__setattr__(self, "_in_backward", True)
            queue_callback(self._finish)
        index, slot = self._bucket_of[id(p)]
        bucket = self._buckets[index]
        start, stop, _ = bucket.slices[slot]
        grad = p._grad
        if grad._prim is not None:
            raise RuntimeError(
                f"DistributedDataParallel: backward(create_graph=True) is not supported (the "
                f"gradient of the parameter of shape {p.shape} is recorded, and an allreduce "
                f"would cut it from its graph)"
            )
        bucket.flat[start:stop] = grad._data.reshape(-1)
        bucket.ready += 1
        if not self.overlap:
            return
        buckets = self._buckets
        while self._next < len(buckets) and buckets[self._next].ready == len(
            buckets[self._next].params
        ):
            self._launch(buckets[self._next])
            object.__setattr__(self, "_next", self._next + 1)
        # MPICH advances non-blocking collectives only inside MPI calls: poke the oldest one.
        for b in buckets[: self._next]:
            if b.request is not None:
                if b.request.Test():
                    b.request = None
                else:
                    break

    def _launch(self, bucket: _Bucket) -> None:
        group = pg._group
        bucket.arrival = pg._start_arrival(group, self._timeout)
        bucket.request = group.comm.Iallreduce(group.MPI.IN_PLACE, bucket.flat, op=group.MPI.SUM)

    def _finish(self) -> None:
        """End of the backward walk: start what is left, wait, average, write back."""
        group = pg._group
        buckets = self._buckets
        # How many buckets were started inside the walk (overlapping it), for tests/benchmarks.
        object.__setattr__(self, "_launched_early", self._next)
        try:
            for b in buckets[self._next :]:
                if b.ready < len(b.params):
                    # Parameters without a gradient in this backward contribute zeros.
                    for p, (start, stop, _) in zip(b.params, b.slices):
                        if p._grad is None:
                            b.flat[start:stop] = 0
                self._launch(b)
            object.__setattr__(self, "_next", len(buckets))
            scale = 1.0 / group.size
            for b in buckets:
                if b.request is not None:
                    pg._wait(
                        group,
                        [b.request],
                        "DistributedDataParallel backward",
                        self._timeout,
                        b.arrival,
                    )
                elif b.arrival is not None:
                    b.arrival.finish(group.MPI)
                b.flat *= scale
                for p, (start, stop, shape) in zip(b.params, b.slices):
                    mean = b.flat[start:stop].reshape(shape)
                    if p._grad is None:
                        p._grad = _leaf(mean.copy())
                    else:
                        p._grad._data[...] = mean
        finally:
            self._reset()

    def _reset(self) -> None:
        for b in self._buckets:
            b.ready = 0
            b.request = None
            b.arrival = None
        object.__setattr__(self, "_next", 0)
        object.__setattr__(self, "_in_backward", False)

    def extra_repr(self) -> str:
        return (
            f"world_size={pg._group.size}, buckets={len(self._buckets)}, "
            f"bucket_cap_mb={self.bucket_cap_mb:g}, overlap={self.overlap}"
        )
