"""scikit-learn estimators whose losses and gradients come from chainrule.

Needs the ``sklearn`` extra (``pip install "chainrule[sklearn]"``: scikit-learn >= 1.6, whose
``validate_data`` and weighted ``compute_class_weight`` it uses); ``import chainrule`` does not
import this package, so chainrule itself works without scikit-learn.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.estimators import LogisticRegression
>>> X, y = cr.data.load_iris()
>>> clf = LogisticRegression(max_iter=500).fit(X, y)
>>> clf.coef_.shape, round(clf.score(X, y), 2)
((3, 4), 0.97)
"""

try:
    import sklearn  # noqa: F401
except ImportError:
    raise ImportError(
        'chainrule.estimators needs scikit-learn; install it with: pip install "chainrule[sklearn]"'
    ) from None

from .logistic import LogisticRegression
from .mlp import MLPClassifier, MLPRegressor

__all__ = ["LogisticRegression", "MLPClassifier", "MLPRegressor"]
