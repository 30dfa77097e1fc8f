"""Logistic regression as a scikit-learn classifier, fitted by L-BFGS on chainrule gradients.

The penalised log-loss is written with chainrule ops (float64); :func:`chainrule.optim.minimize`
hands its value and exact gradient to SciPy's L-BFGS-B with scikit-learn's settings, so the
solution matches ``sklearn.linear_model.LogisticRegression(solver="lbfgs")``.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import ops
from ..nn import Parameter
from ..ops.define import apply
from ..ops.nn import _sigmoid_cross_entropy, label_cross_entropy, sigmoid_cross_entropy_prim
from ..optim import minimize
from ..tensor import as_tensor, zeros
from .threads import one_blas_thread

__all__ = ["LogisticRegression"]


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-penalised logistic regression (binary or multinomial), scikit-learn compatible.

    Minimises scikit-learn's objective, divided by ``S = sum_i s_i``::

        (sum_i s_i loss_i + 0.5 / C * ||W||^2) / S

    where ``loss_i`` is the log-loss of sample ``i`` (sigmoid for two classes, softmax for
    more), ``s_i = sample_weight_i * class_weight[y_i]`` and the intercept is not penalised.
    The division by ``S`` is what scikit-learn (>= 1.2, lbfgs) does too: it leaves the
    minimiser unchanged and makes ``tol`` (L-BFGS-B's ``gtol`` on the projected gradient)
    mean the same thing in both, so fits with equal ``tol`` stop at comparable points.

    The loss and its gradient come from chainrule's autodiff; the optimiser is SciPy's
    L-BFGS-B through :func:`chainrule.optim.minimize`, from zeros, with scikit-learn's options
    (``maxls=50``, ``ftol=64 * eps``). The fit runs under ``threadpoolctl.threadpool_limits(1)``
    when threadpoolctl is importable (it comes with scikit-learn): the problems are small, and
    NumPy's and SciPy's BLAS pools otherwise fight over the cores (badly on 2-core machines).

    Parameters
    ----------
    penalty : {"l2", None}, default="l2"
        None fits without a penalty (``C`` is then ignored).
    C : float, default=1.0
        Inverse regularisation strength, > 0.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept per class.
    class_weight : dict, "balanced" or None, default=None
        Per-class weights multiplying ``sample_weight``, as in scikit-learn ("balanced" is
        ``n_samples / (n_classes * bincount(y))``, weighted by ``sample_weight``).
    max_iter : int, default=100
        Maximum L-BFGS iterations; a ConvergenceWarning is issued when they run out.
    tol : float, default=1e-4
        Stop when the largest component of the (scaled) objective's gradient is below it.
    solver : {"lbfgs"}, default="lbfgs"
        The only solver.
    random_state : None
        Unused (the fit is deterministic); kept for scikit-learn's signature.
    distributed : bool, default=False
        Fit rows split across the ranks of an MPI job (``mpiexec -n N``, see
        :mod:`chainrule.distributed`): each rank passes its own rows, the classes, weights,
        loss and gradient are summed over the ranks, and every rank runs the same L-BFGS to the
        same coefficients, those of the fit on all the rows (to the optimiser's tolerance).
        In one process it changes nothing.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) for two classes, else (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,); zeros when ``fit_intercept=False``
    n_iter_ : ndarray of shape (1,), int32
        L-BFGS iterations taken (at most ``max_iter``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X has string column names

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.estimators import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegression().fit(X, ["no", "no", "yes", "yes"])
    >>> clf.predict([[0.5], [2.5]]).tolist(), clf.coef_.shape
    (['no', 'yes'], (1, 1))
    """

    def __init__(
        self,
        penalty: str | None = "l2",
        *,
        C: float = 1.0,
        fit_intercept: bool = True,
        class_weight: dict | str | None = None,
        max_iter: int = 100,
        tol: float = 1e-4,
        solver: str = "lbfgs",
        random_state: Any = None,
        distributed: bool = False,
    ) -> None:
        self.penalty = penalty
        self.C = C
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.random_state = random_state
        self.distributed = distributed

    def _check_params(self) -> None:
        name = type(self).__name__
        if self.penalty not in ("l2", None):
            raise ValueError(f"{name}: penalty must be 'l2' or None, got {self.penalty!r}")
        if not _real(self.C) or not self.C > 0:
            raise ValueError(f"{name}: C must be a positive number, got {self.C!r}")
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise ValueError(f"{name}: fit_intercept must be a bool, got {self.fit_intercept!r}")
        if not (
            self.class_weight is None
            or self.class_weight == "balanced"
            or isinstance(self.class_weight, dict)
        ):
            raise ValueError(
                f"{name}: class_weight must be a dict, 'balanced' or None, "
                f"got {self.class_weight!r}"
            )
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 0:
            raise ValueError(f"{name}: max_iter must be an int >= 0, got {self.max_iter!r}")
        if not _real(self.tol) or not self.tol >= 0:
            raise ValueError(f"{name}: tol must be a number >= 0, got {self.tol!r}")
        if self.solver != "lbfgs":
            raise ValueError(f"{name}: solver must be 'lbfgs' (the only one), got {self.solver!r}")

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LogisticRegression:
        """Fit the model to ``X`` (n_samples, n_features) and labels ``y`` (n_samples,).

        ``sample_weight`` (n_samples,) weights each sample's loss; a weight of 2 is the same
        as repeating the sample. Returns ``self``.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, labels = np.unique(y, return_inverse=True)
        if self.distributed:
            classes, labels = _classes_of_all_ranks(type(self).__name__, X, y, classes)
        if classes.size < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {classes[0].tolist()!r}"
            )
        s = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if self.distributed and self.class_weight == "balanced":
            from ..distributed import allreduce_

            counts = allreduce_(np.bincount(labels, s, classes.size), op="sum")[0]
            if not (counts > 0).all():
                raise ValueError(
                    f"{type(self).__name__}: class_weight='balanced' needs every class to have "
                    f"a positive weight; {classes[counts <= 0].tolist()} have none"
                )
            s = s * (counts.sum() / (classes.size * counts))[labels]
        elif self.class_weight is not None:
            per_class = compute_class_weight(
                self.class_weight, classes=classes, y=y, sample_weight=s
            )
            s = s * per_class[labels]
        total = float(s.sum())
        if self.distributed:
            from ..distributed import allreduce_

            total = float(allreduce_(np.array([total]), op="sum")[0][0])
        if not total > 0:
            raise ValueError(
                f"{type(self).__name__}: the sample weights (times the class weights) sum to "
                f"{total}; expected a positive sum"
            )
        limits = one_blas_thread()
        with limits:
            coef, intercept, result = self._minimize(X, labels, classes.size, s / total, total)
        if result.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {result.nit} iteration(s) "
                f"(status={result.status}): {result.message}. Increase max_iter or scale "
                f"the data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        self.n_iter_ = np.array([min(result.nit, self.max_iter)], dtype=np.int32)
        return self

    def _minimize(
        self, X: np.ndarray, labels: np.ndarray, n_classes: int, w: np.ndarray, total: float
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        n, p = X.shape
        k = 1 if n_classes == 2 else n_classes
        x = as_tensor(X)
        W = Parameter(zeros((k, p), dtype="float64"))
        b = Parameter(zeros(k, dtype="float64")) if self.fit_intercept else None
        l2 = 0.0 if self.penalty is None else 0.5 / (self.C * total)
        # One fused node per data term (its gradient is the closed form, no 1/p factors):
        # binary, sum_i w_i [log(1 + e^z_i) - t_i z_i] with t = 1 for classes_[1]; else
        # sum_i w_i (-log softmax(z_i)[y_i]).
        if k == 1:
            t = (labels == 1).astype(np.float64).reshape(n, 1)
            w = w.reshape(n, 1)

            def data_loss(z: Any) -> Any:
                return apply(sigmoid_cross_entropy_prim, _sigmoid_cross_entropy, (z, t),
                             (w, None, 1.0))  # fmt: skip
        else:

            def data_loss(z: Any) -> Any:
                return label_cross_entropy(z, labels, w, denom=1.0)

        def objective() -> Any:
            loss = data_loss(ops.linear(x, W, b))
            return loss + (W * W).sum() * l2 if l2 else loss

        if self.distributed:
            from ..distributed import replicated, sum_replicated

            # Every rank evaluates the same total: the data terms of all ranks' rows (each
            # rank's gradient of W is summed over the ranks), plus the penalty once.
            def objective() -> Any:
                Wr, br = replicated(W), None if b is None else replicated(b)
                loss = sum_replicated(data_loss(ops.linear(x, Wr, br)))
                return loss + (W * W).sum() * l2 if l2 else loss

        result = minimize(
            objective,
            [W] if b is None else [W, b],
            method="L-BFGS-B",
            options={
                "maxiter": self.max_iter,
                "maxls": 50,
                "gtol": self.tol,
                "ftol": 64 * np.finfo(float).eps,
            },
        )
        coef = W.numpy().copy()
        intercept = np.zeros(k) if b is None else b.numpy().copy()
        return coef, intercept, result

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores ``X @ coef_.T + intercept_``: shape (n_samples,) for two classes (positive
        means ``classes_[1]``), else (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        scores = X @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of ``X``, shape (n_samples,)."""
        scores = self.decision_function(X)
        index = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[index]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([expit(-scores), expit(scores)])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`, computed stably, shape (n_samples, n_classes)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return log_softmax(scores, axis=1)

    def to_onnx(self, path: Any = None, **kwargs: Any) -> Any:
        """The fitted model as ONNX: input ``X`` (float32), outputs ``label`` and
        ``probabilities``, as skl2onnx writes them; see :mod:`chainrule.onnx.estimators`.

        Examples
        --------
        >>> X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
        >>> [o.name for o in LogisticRegression().fit(X, y).to_onnx().graph.output]
        ['label', 'probabilities']
        """
        from ..onnx.estimators import estimator_to_onnx

        return estimator_to_onnx(self, path, **kwargs)


def _classes_of_all_ranks(
    name: str, X: np.ndarray, y: np.ndarray, local: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The classes seen on any rank (sorted) and this rank's labels as indices into them.

    Also checks that every rank has the same number of features."""
    from ..distributed import allgather_json

    gathered = allgather_json({"features": int(X.shape[1]), "classes": local.tolist()})
    widths = sorted({g["features"] for g in gathered})
    if len(widths) > 1:
        raise ValueError(f"{name}: the ranks' X have different numbers of features: {widths}")
    keep = local.dtype if local.dtype.kind not in "USO" else None
    classes = np.unique(np.concatenate([np.asarray(g["classes"], dtype=keep) for g in gathered]))
    return classes, np.searchsorted(classes, y)


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
