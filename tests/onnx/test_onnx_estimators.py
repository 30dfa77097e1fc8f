"""to_onnx() of the estimators: ONNX Runtime's label and probabilities (or values) equal
the estimator's predict/predict_proba at two batch sizes."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the [onnx] extra (onnx) is not installed")
ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnxruntime) is not installed")

from chainrule.estimators import LogisticRegression, MLPClassifier, MLPRegressor  # noqa: E402

# a few hundred iterations are enough to compare the file with the estimator, converged or not
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n_classes, seed=0, n=120, d=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal((d, max(n_classes, 1)))
    z = X @ w
    y = z.argmax(1) if n_classes > 1 else z[:, 0] + 0.1 * rng.standard_normal(n)
    return X, y


def _session(proto):
    onnx.checker.check_model(proto, full_check=True)
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _check_classifier(est, X, tmp_path):
    path = tmp_path / "est.onnx"
    proto = est.to_onnx(path)
    assert path.exists()
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    sess = _session(proto)
    for rows in (slice(0, 1), slice(0, 37)):
        Xb = X[rows]
        label, proba = sess.run(None, {"X": Xb.astype(np.float32)})
        want = est.predict_proba(Xb)
        np.testing.assert_allclose(proba, want, rtol=1e-5, atol=1e-5)
        # labels agree wherever the two best probabilities are not within float32 rounding
        top2 = np.sort(want, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-5
        assert clear.sum() >= len(Xb) - 1
        np.testing.assert_array_equal(label[clear], est.predict(Xb)[clear])
        assert label.dtype == est.classes_.dtype or label.dtype == object
    return proto


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_regression(n_classes, tmp_path):
    X, y = _data(n_classes)
    est = LogisticRegression(C=10.0).fit(X, y)
    _check_classifier(est, X, tmp_path)


def test_logistic_regression_text_labels(tmp_path):
    X, y = _data(3, seed=1)
    names = np.array(["cat", "dog", "eel"])[y]
    est = LogisticRegression().fit(X, names)
    proto = _check_classifier(est, X, tmp_path)
    label = _session(proto).run(None, {"X": X[:5].astype(np.float32)})[0]
    assert label.dtype == object and set(label) <= {"cat", "dog", "eel"}


@pytest.mark.parametrize("n_classes, activation", [(2, "relu"), (4, "tanh"), (3, "logistic")])
def test_mlp_classifier(n_classes, activation, tmp_path):
    X, y = _data(n_classes, seed=2)
    est = MLPClassifier(hidden_layer_sizes=(8, 6), activation=activation, max_iter=300,
                        random_state=0).fit(X, y)  # fmt: skip
    _check_classifier(est, X, tmp_path)


@pytest.mark.parametrize("two_d", [False, True])
def test_mlp_regressor(two_d, tmp_path):
    X, y = _data(0, seed=3)
    if two_d:
        y = np.column_stack([y, -2 * y])
    est = MLPRegressor(hidden_layer_sizes=(7,), max_iter=300, random_state=0).fit(X, y)
    proto = est.to_onnx(input_name="features")
    assert [i.name for i in proto.graph.input] == ["features"]
    sess = _session(proto)
    for n in (1, 29):
        (got,) = sess.run(None, {"features": X[:n].astype(np.float32)})
        want = est.predict(X[:n]).reshape(n, -1)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_unfitted_estimator_is_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().to_onnx()
