"""The Fréchet distance of two feature sets with fewer samples than dimensions, exactly and cheaply.

FID fits a Gaussian to each feature set (Heusel et al. 2017, eq. 6):
``d^2 = |mu_x - mu_y|^2 + Tr S_x + Tr S_y - 2 Tr (S_x S_y)^{1/2}``. With
centred features X_c ``(n, d)`` and Y_c ``(m, d)``, S_x = X_c^T X_c / (n - 1)
and S_y = Y_c^T Y_c / (m - 1), so

  S_x S_y = X_c^T C Y_c / ((n - 1)(m - 1)) with C = X_c Y_c^T ``(n, m)``,

whose non-zero eigenvalues are those of C C^T / ((n - 1)(m - 1)) (the
non-zero eigenvalues of AB and BA agree). Hence

  Tr (S_x S_y)^{1/2} = sum_i s_i(C) / sqrt((n - 1)(m - 1)),

s_i the singular values of C: an ``(n, m)`` SVD in place of ``(d, d)``
eigensolves, exact in exact arithmetic, and worth it when n, m < d (a few
hundred Inception features of dimension 2048).
"""

import numpy as np

__all__ = ["frechet_distance_of_features"]


def frechet_distance_of_features(x, y) -> float:
    """d^2 between the Gaussian fits of features ``x`` ``(n, d)`` and ``y`` ``(m, d)``, n, m >= 2.

    Unbiased covariances (divisor n - 1), float64 throughout; the result is
    clamped at 0 against round-off. Cost O(n m d + min(n, m)^2 max(n, m)).
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n, m = len(x), len(y)
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    diff = x.mean(axis=0) - y.mean(axis=0)
    trace_x = np.sum(xc * xc) / (n - 1)
    trace_y = np.sum(yc * yc) / (m - 1)
    trace_sqrt = np.sum(np.linalg.svd(xc @ yc.T, compute_uv=False)) / np.sqrt((n - 1) * (m - 1))
    return float(max(diff @ diff + trace_x + trace_y - 2.0 * trace_sqrt, 0.0))
