"""Multi-layer perceptrons as scikit-learn estimators, trained with chainrule.nn and optim.

``MLPClassifier`` and ``MLPRegressor`` take scikit-learn's parameters and defaults, and follow
its training loop (mini-batch epochs, ``tol``/``n_iter_no_change`` stopping, early stopping on a
validation split, Glorot-uniform initialisation); the network is a :class:`chainrule.nn.Sequential`
in float64, its gradients come from chainrule's autodiff and its updates from
:class:`chainrule.optim.Adam` / :class:`chainrule.optim.SGD` (or full-batch L-BFGS through
:func:`chainrule.optim.minimize`).
"""

from __future__ import annotations

import contextlib
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import nn
from ..autodiff import next_seq
from ..backend import namespace_of, on_device, parse_device
from ..compile import compile as _compile
from ..ops import linear
from ..ops.define import apply
from ..ops.nn import _sigmoid_cross_entropy, label_cross_entropy, sigmoid_cross_entropy_prim
from ..optim import SGD, Adam, minimize
from ..tensor import as_tensor
from .threads import one_blas_thread

#: Whether the stochastic solvers replay their inner step with ``cr.compile`` (bit-identical
#: to the eager step; set False to run it eagerly).
COMPILE_STEP = True

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"identity": nn.Identity, "logistic": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
_NUMPY_ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _stochastic(self: Any) -> bool:
    if self.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. "
            f"{self.solver} is not stochastic."
        )
    return True


class _BaseMLP(BaseEstimator):
    """The training loop both estimators share; subclasses define targets, loss and output."""

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 1e-3,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        dropout: float = 0.0,
        device: str = "cpu",
        distributed: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.device = device
        self.distributed = distributed

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> tuple[int, ...]:
        name = type(self).__name__
        parse_device(self.device, name)
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if _int(sizes) else tuple(sizes)
        if not all(_int(s) and s > 0 for s in sizes):
            raise ValueError(
                f"{name}: hidden_layer_sizes must be positive ints, got {self.hidden_layer_sizes!r}"
            )
        choices = {
            "activation": tuple(_ACTIVATIONS),
            "solver": ("adam", "sgd", "lbfgs"),
            "learning_rate": ("constant", "invscaling", "adaptive"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"{name}: {key} must be one of {allowed}, got {getattr(self, key)!r}"
                )
        positive = ("learning_rate_init", "epsilon")
        non_negative = ("alpha", "power_t", "tol")
        for key in positive + non_negative:
            v = getattr(self, key)
            if not _real(v) or not (v > 0 if key in positive else v >= 0):
                bound = "> 0" if key in positive else ">= 0"
                raise ValueError(f"{name}: {key} must be a number {bound}, got {v!r}")
        for key in ("max_iter", "n_iter_no_change", "max_fun"):
            v = getattr(self, key)
            if not _int(v) or v < 1:
                raise ValueError(f"{name}: {key} must be an int >= 1, got {v!r}")
        for key, lo_open in (
            ("momentum", False),
            ("beta_1", False),
            ("beta_2", False),
            ("validation_fraction", True),
            ("dropout", False),
        ):
            v = getattr(self, key)
            ok = _real(v) and (0 < v < 1 if lo_open else 0 <= v < 1)
            if not ok:
                raise ValueError(
                    f"{name}: {key} must be a number in "
                    f"{'(0, 1)' if lo_open else '[0, 1)'}, got {v!r}"
                )
        bs = self.batch_size
        if bs != "auto" and not (_int(bs) and bs >= 1):
            raise ValueError(f"{name}: batch_size must be 'auto' or an int >= 1, got {bs!r}")
        if self.distributed and self.solver != "lbfgs":
            raise ValueError(
                f"{name}: distributed=True fits with solver='lbfgs' only (a stochastic solver "
                f"over MPI ranks is chainrule.distributed.DistributedDataParallel's job), got "
                f"solver={self.solver!r}"
            )
        if self.dropout and self.solver == "lbfgs":
            raise ValueError(
                f"{name}: dropout needs a stochastic solver ('adam' or 'sgd'), "
                f"not 'lbfgs' (its full-batch objective must be deterministic)"
            )
        return sizes

    # --------------------------------------------------------------------- network
    def _build(self, n_features: int, sizes: tuple[int, ...], n_out: int) -> None:
        rng = self._rng
        widths = [n_features, *sizes, n_out]
        factor = 2.0 if self.activation == "logistic" else 6.0
        layers: list[Any] = []
        self.coefs_, self.intercepts_ = [], []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = rng.uniform(-bound, bound, (fan_in, fan_out))
            intercept = rng.uniform(-bound, bound, fan_out)
            self.coefs_.append(coef)
            self.intercepts_.append(intercept)
            layers.append(nn.Linear(fan_in, fan_out, dtype="float64"))
            if i < len(sizes):
                layers.append(_ACTIVATIONS[self.activation]())
                if self.dropout:
                    layers.append(nn.Dropout(self.dropout, generator=rng))
        self._net = nn.Sequential(*layers)
        self._linears = [m for m in layers if isinstance(m, nn.Linear)]
        self._load_coefs()
        self._optimizer = None
        self.n_layers_ = len(widths)
        self.n_outputs_ = n_out
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _load_coefs(self) -> None:
        # coefs_ may have been replaced (unpickled copy, user edit): the network follows them.
        for lin, c, b in zip(self._linears, self.coefs_, self.intercepts_):
            xp = namespace_of(lin.weight._data)
            lin.weight._data[...] = xp.asarray(c.T)
            lin.bias._data[...] = xp.asarray(b)
            lin.weight._version = lin.bias._version = next_seq()

    def _store_coefs(self) -> None:
        self.coefs_ = [lin.weight.numpy().T.copy() for lin in self._linears]
        self.intercepts_ = [lin.bias.numpy().copy() for lin in self._linears]

    def _objective(self, x: Any, t: np.ndarray, w: np.ndarray) -> Any:
        """Weighted mean loss of the batch plus 0.5 * alpha * ||W||^2 / sum(w)."""
        total = float(w.sum())
        loss = self._data_loss(self._net(x), t, w / total)
        if self.alpha:
            penalty = sum((lin.weight * lin.weight).sum() for lin in self._linears)
            loss = loss + (0.5 * self.alpha / total) * penalty
        return loss

    def _distributed_objective(self, x: Any, t: np.ndarray, w: np.ndarray) -> Any:
        """``_objective`` over the rows of every MPI rank, the same number on each rank.

        The weights are ``replicated`` (their gradient is summed over the ranks) and the data
        term is ``sum_replicated``; the penalty, computed on every rank from the same weights,
        enters once. All ranks start from rank 0's weights."""
        from ..distributed import allreduce_, broadcast_parameters, replicated, sum_replicated

        broadcast_parameters(self._net)
        total = float(allreduce_(np.array([float(w.sum())]), op="sum")[0][0])
        scaled = w / total

        def objective() -> Any:
            h = x
            for m in self._net:
                if isinstance(m, nn.Linear):
                    h = linear(h, replicated(m.weight), replicated(m.bias))
                else:
                    h = m(h)
            loss = sum_replicated(self._data_loss(h, t, scaled))
            if self.alpha:
                penalty = sum((lin.weight * lin.weight).sum() for lin in self._linears)
                loss = loss + (0.5 * self.alpha / total) * penalty
            return loss

        return objective

    def _forward_numpy(self, X: np.ndarray) -> np.ndarray:
        act = _NUMPY_ACTIVATIONS[self.activation]
        h = X
        last = len(self.coefs_) - 1
        for i, (c, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            h = h @ c + b
            if i < last:
                h = act(h)
        return h

    # ------------------------------------------------------------------------- fit
    def _fit(
        self, X: Any, y: Any, sample_weight: Any, incremental: bool, classes: Any = None
    ) -> Any:
        sizes = self._check_params()
        # A missing CuPy fails here, before any state changes.
        context, move = on_device(self.device, type(self).__name__)
        first = not hasattr(self, "coefs_") or not (incremental or self.warm_start)
        X, y = validate_data(
            self,
            X,
            y,
            dtype=np.float64,
            multi_output=self._multi_output,
            y_numeric=not self._is_clf,
            reset=first,
        )
        t, s = self._targets(y, sample_weight, X, first, classes)
        if first:
            seed = self.random_state
            if isinstance(seed, np.random.RandomState):
                seed = int(seed.randint(2**31))
            self._rng = np.random.default_rng(seed)
            self._build(X.shape[1], sizes, self._n_outputs(t))
        else:
            self._load_coefs()
        if getattr(self, "_fit_device", self.device) != self.device:
            self._optimizer = None  # its state lives on the previous device
        self._fit_device = self.device
        # L-BFGS calls SciPy's BLAS between NumPy's: one thread, or the two pools fight. The
        # stochastic solvers use NumPy's alone, whose threads speed up the larger products.
        limits = one_blas_thread() if self.solver == "lbfgs" else contextlib.nullcontext()
        with context, limits:
            self._net.to(self.device)
            if self.solver == "lbfgs":
                self._fit_lbfgs(move(X), move(t), move(s))
            else:
                self._fit_stochastic(X, y, t, s, incremental, move)
        self._store_coefs()
        return self

    def _fit_lbfgs(self, X: Any, t: Any, s: Any) -> None:
        x = as_tensor(X)
        self._net.train()
        objective = lambda: self._objective(x, t, s)  # noqa: E731
        if self.distributed:
            objective = self._distributed_objective(x, t, s)
        result = minimize(
            objective,
            self._net,
            method="L-BFGS-B",
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
        )
        self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        # One full-batch "epoch": the curve holds the final loss only.
        self.loss_curve_.append(self.loss_)
        self.best_loss_ = self.loss_
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge (status={result.status}): "
                f"{result.message}. Increase max_iter or scale the data.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _make_optimizer(self) -> Any:
        params = list(self._net.parameters())
        if self.solver == "adam":
            return Adam(
                params,
                lr=self.learning_rate_init,
                betas=(self.beta_1, self.beta_2),
                eps=self.epsilon,
            )
        nesterov = self.nesterovs_momentum and self.momentum > 0
        return SGD(params, lr=self.learning_rate_init, momentum=self.momentum, nesterov=nesterov)

    def _fit_stochastic(
        self,
        X: np.ndarray,
        y: np.ndarray,
        t: np.ndarray,
        s: np.ndarray,
        incremental: bool,
        move: Callable[[Any], Any],
    ) -> None:
        if self._optimizer is None or not incremental:  # a warm-started fit restarts it, as sklearn
            self._optimizer = self._make_optimizer()
        opt = self._optimizer
        early = self.early_stopping and not incremental
        if early:
            stratify = y if self._is_clf else None
            idx = train_test_split(
                np.arange(len(X)),
                test_size=self.validation_fraction,
                random_state=int(self._rng.integers(2**31)),
                stratify=stratify,
            )
            train, val = idx
            X_val, y_val, s_val = X[val], y[val], s[val]
            X, t, s = X[train], t[train], s[train]
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else min(self.batch_size, n)
        rng = self._rng
        order = np.arange(n)
        Xd, td, sd = move(X), move(t), move(s)  # the training data, once, on the device

        def train_step(xb: Any, tb: Any, sb: Any) -> Any:
            loss = self._objective(as_tensor(xb), tb, sb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        # Replayed by cr.compile (NumPy arrays only; the same numbers, measured faster: see
        # benchmarks/RESULTS.md); a CuPy device runs it eagerly (cr.compile's GPU replay has
        # not been measured on a real GPU yet), and so does an objective that a subclass (or a
        # test) overrides, which may do Python work at every step. Dropout draws from the
        # estimator's own generator, which a replay cannot follow.
        stock = (
            type(self)._objective is _BaseMLP._objective and not self.dropout
            and not str(self.device).startswith("cuda")
        )  # fmt: skip
        step = _compile(train_step) if COMPILE_STEP and stock else train_step
        for _ in range(1 if incremental else self.max_iter):
            if self.shuffle:
                rng.shuffle(order)
            self._net.train()
            total = 0.0
            od = move(order)
            for start in range(0, n, batch):
                b = od[start : start + batch]
                loss = step(Xd[b], td[b], sd[b])
                total += float(loss.item()) * len(b)
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = total / n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            if early:
                self._store_coefs()
                self._update_validation(X_val, y_val, s_val)
            else:
                self._update_loss_count()
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                for g in opt.param_groups:
                    g["lr"] = self.learning_rate_init / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early else "Training loss"
                if self.solver == "sgd" and self.learning_rate == "adaptive":
                    lr = opt.param_groups[0]["lr"]
                    if lr > 1e-6:
                        for g in opt.param_groups:
                            g["lr"] = lr / 5.0
                        self._no_improvement_count = 0
                        continue
                if self.verbose:
                    print(
                        f"{what} did not improve more than tol={self.tol} for "
                        f"{self.n_iter_no_change} consecutive epochs. Stopping."
                    )
                break
            if self.n_iter_ == self.max_iter and not incremental:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                    f"reached and the optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=4,
                )
        if early:
            self.coefs_, self.intercepts_ = self._best_coefs
            self._load_coefs()

    def _update_loss_count(self) -> None:
        if self.loss_curve_[-1] > self.best_loss_ - self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _update_validation(self, X: np.ndarray, y: np.ndarray, s: np.ndarray) -> None:
        score = self._val_score(self._forward_numpy(X), y, s)
        self.validation_scores_.append(score)
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_coefs = (
                [c.copy() for c in self.coefs_],
                [b.copy() for b in self.intercepts_],
            )

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Fit the network to ``X`` (n_samples, n_features) and ``y``; returns ``self``.

        ``sample_weight`` (n_samples,) weights each sample's loss (a weighted mean per batch).
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _decision(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._forward_numpy(X)

    def to_onnx(self, path: Any = None, **kwargs: Any) -> Any:
        """The fitted network as ONNX: input ``X`` (float32); a classifier gives ``label`` and
        ``probabilities``, a regressor ``variable``, as skl2onnx writes them (see
        :mod:`chainrule.onnx.estimators`).

        Examples
        --------
        >>> X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0.0, 1.0, 2.0, 3.0])
        >>> est = MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs").fit(X, y)
        >>> [o.name for o in est.to_onnx().graph.output]
        ['variable']
        """
        from ..onnx.estimators import estimator_to_onnx

        return estimator_to_onnx(self, path, **kwargs)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier with scikit-learn's parameters, defaults and API.

    Minimises the weighted mean log-loss (one logistic output unit for two classes, softmax
    otherwise) plus ``0.5 * alpha * ||W||^2 / sum(sample_weight)`` per batch (weights only),
    with Adam, SGD (momentum, Nesterov, constant/invscaling/adaptive learning rate) or full-batch
    L-BFGS. Weights start Glorot-uniform (``sqrt(6 / (fan_in + fan_out))``, ``sqrt(2 / ...)``
    for the logistic activation) from a NumPy Generator seeded by ``random_state``. L-BFGS
    training runs under ``threadpoolctl.threadpool_limits(1)`` (NumPy's and SciPy's BLAS pools
    would fight); Adam and SGD use NumPy's pool as configured.

    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
    momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
    epsilon, n_iter_no_change, max_fun
        As in :class:`sklearn.neural_network.MLPClassifier`.
    class_weight : dict, "balanced" or None, default=None
        Per-class weights multiplying ``sample_weight``.
    dropout : float, default=0.0
        Dropout probability after each hidden activation while training (stochastic solvers).
    device : {"cpu", "cuda", "cuda:N"}, default="cpu"
        Where to train: "cuda" trains on an NVIDIA GPU through CuPy (``pip install
        "chainrule[gpu]"``); the data is copied there once per fit. The weights are drawn on
        the host, dropout masks too, so a fit gives the same model on either device up to
        floating-point rounding. ``coefs_`` and ``intercepts_`` are NumPy arrays, and
        prediction runs on the host from them.
    distributed : bool, default=False
        With ``solver="lbfgs"``: fit rows split across the ranks of an MPI job (``mpiexec -n
        N``, see :mod:`chainrule.distributed`). Each rank passes its own rows; the classes,
        weights, loss and gradient are summed over the ranks, and every rank runs the same
        L-BFGS from the same initial weights to the same network, the fit on all the rows up
        to rounding. In one process it changes nothing.

    Attributes
    ----------
    classes_, coefs_, intercepts_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, n_iter_, t_, n_layers_, n_outputs_, out_activation_,
    n_features_in_
        As in scikit-learn; ``coefs_[i]`` has shape (fan_in, fan_out).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.estimators import MLPClassifier
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, [0, 0, 1, 1])
    >>> clf.predict([[0.2], [2.8]]).tolist(), clf.out_activation_
    ([0, 1], 'logistic')
    """

    _is_clf = True
    _multi_output = False

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 1e-3,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        dropout: float = 0.0,
        class_weight: dict | str | None = None,
        device: str = "cpu",
        distributed: bool = False,
    ) -> None:
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            device=device,
            distributed=distributed,
        )
        self.class_weight = class_weight

    def _targets(
        self, y: np.ndarray, sample_weight: Any, X: np.ndarray, first: bool, classes: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        check_classification_targets(y)
        if first:
            given = classes is not None
            classes = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if self.distributed and not given:
                from .logistic import _classes_of_all_ranks

                classes = _classes_of_all_ranks(type(self).__name__, X, y, classes)[0]
            if classes.size < 2:
                raise ValueError(
                    f"{type(self).__name__}: needs samples of at least 2 classes, but the data "
                    f"contains only one class: {classes[0].tolist()!r}"
                )
            self.classes_ = classes
            self.out_activation_ = "logistic" if classes.size == 2 else "softmax"
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"{type(self).__name__}: y contains labels {unknown.tolist()} "
                f"not in classes_ {self.classes_.tolist()}"
            )
        labels = np.searchsorted(self.classes_, y)
        s = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if self.distributed and self.class_weight == "balanced":
            from ..distributed import allreduce_

            counts = allreduce_(np.bincount(labels, s, self.classes_.size), op="sum")[0]
            present = counts > 0  # as below: balanced over the classes present (on any rank)
            per = np.ones(self.classes_.size)
            per[present] = counts.sum() / (present.sum() * counts[present])
            s = s * per[labels]
        elif self.class_weight is not None:
            present = np.unique(labels)
            per = np.ones(self.classes_.size)
            if isinstance(self.class_weight, dict) or present.size == self.classes_.size:
                per[present] = compute_class_weight(
                    self.class_weight, classes=self.classes_[present], y=y, sample_weight=s
                )
            s = s * per[labels]
        if not float(s.sum()) > 0:
            raise ValueError(
                f"{type(self).__name__}: the sample weights sum to {s.sum()}; "
                f"expected a positive sum"
            )
        # Two classes: one logit per sample and a float target; more: the class indices.
        t = labels.astype(np.float64).reshape(-1, 1) if self.classes_.size == 2 else labels
        return t, s

    def _n_outputs(self, t: np.ndarray) -> int:
        return 1 if t.ndim == 2 else self.classes_.size

    def _data_loss(self, z: Any, t: np.ndarray, w: np.ndarray) -> Any:
        # One fused node each: sum_i w_i [log(1 + e^z_i) - t_i z_i] (binary) or
        # sum_i w_i (-log softmax(z_i)[t_i]); the gradient is w (sigmoid(z) - t) or
        # w (softmax(z) - onehot(t)), as in the article.
        if t.ndim == 2:
            return apply(sigmoid_cross_entropy_prim, _sigmoid_cross_entropy, (z, t),
                         (w[:, None], None, 1.0))  # fmt: skip
        return label_cross_entropy(z, t, w, denom=1.0)

    def _val_score(self, z: np.ndarray, y: np.ndarray, s: np.ndarray) -> float:
        return float(accuracy_score(y, self._labels(z), sample_weight=s))

    def _labels(self, z: np.ndarray) -> np.ndarray:
        index = (z[:, 0] > 0).astype(np.intp) if z.shape[1] == 1 else z.argmax(axis=1)
        return self.classes_[index]

    @available_if(_stochastic)
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """One epoch over ``X``, ``y``; the first call needs ``classes`` (all labels)."""
        if not hasattr(self, "coefs_") and classes is None:
            raise ValueError(
                f"{type(self).__name__}: classes must be passed on the first call to partial_fit"
            )
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of ``X``, shape (n_samples,)."""
        return self._labels(self._decision(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        z = self._decision(X)
        if z.shape[1] == 1:
            return np.column_stack([expit(-z[:, 0]), expit(z[:, 0])])
        return softmax(z, axis=1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`, computed stably."""
        z = self._decision(X)
        if z.shape[1] == 1:
            return np.column_stack([log_expit(-z[:, 0]), log_expit(z[:, 0])])
        return log_softmax(z, axis=1)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor with scikit-learn's parameters, defaults and API.

    Minimises ``0.5 * mean`` squared error (weighted over samples, averaged over outputs)
    plus ``0.5 * alpha * ||W||^2 / sum(sample_weight)`` per batch, like scikit-learn; the
    output layer is the identity and ``y`` may have several columns. Parameters and
    attributes are those of :class:`MLPClassifier` without ``class_weight``/``classes_``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.estimators import MLPRegressor
    >>> X = np.linspace(0, 1, 20).reshape(-1, 1)
    >>> reg = MLPRegressor((8,), solver="lbfgs", random_state=0).fit(X, 2 * X[:, 0])
    >>> reg.predict(X).shape, reg.out_activation_
    ((20,), 'identity')
    """

    _is_clf = False
    _multi_output = True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _targets(
        self, y: np.ndarray, sample_weight: Any, X: np.ndarray, first: bool, classes: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        if first:
            self.out_activation_ = "identity"
            self._y_ndim = y.ndim
        t = y.reshape(len(y), -1).astype(np.float64)
        if not first and t.shape[1] != self.n_outputs_:
            raise ValueError(
                f"{type(self).__name__}: y has {t.shape[1]} outputs, expected {self.n_outputs_}"
            )
        s = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if not float(s.sum()) > 0:
            raise ValueError(
                f"{type(self).__name__}: the sample weights sum to {s.sum()}; "
                f"expected a positive sum"
            )
        return t, s

    def _n_outputs(self, t: np.ndarray) -> int:
        return t.shape[1]

    def _data_loss(self, z: Any, t: np.ndarray, w: np.ndarray) -> Any:
        d = z - t
        return (0.5 / t.shape[1]) * ((d * d).sum(axis=1) * w).sum()

    def _val_score(self, z: np.ndarray, y: np.ndarray, s: np.ndarray) -> float:
        return float(r2_score(y, z.reshape(y.shape), sample_weight=s))

    @available_if(_stochastic)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``X``, ``y`` (a first call builds the network)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,) for a 1-d ``y`` at fit, else (n_samples, n_outputs)."""
        z = self._decision(X)
        return z[:, 0] if self._y_ndim == 1 else z
