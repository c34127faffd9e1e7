"""A linear query adapter: ``q' = normalise(A q)`` with ``A`` fitted on frozen model vectors.

Trained with in-batch negatives: each labelled question should be closer (after ``A``) to the
best chunk of its gold section than to the gold chunks of the other questions, with a ridge
pull of ``A`` towards the identity. Measured by ``scripts/ablation.py`` on held-out guides;
a calibration only carries an adapter when it helped there.
"""

from __future__ import annotations

import numpy as np


def fit_adapter(
    queries: np.ndarray, targets: np.ndarray, *, temperature: float = 0.05, l2: float = 1.0, iterations: int = 200
) -> np.ndarray:
    """``A`` (d, d) minimising the in-batch softmax loss of ``A q_i`` against ``targets``."""
    from scipy.optimize import minimize

    q = np.asarray(queries, dtype=np.float64)
    p = np.asarray(targets, dtype=np.float64)
    n, d = q.shape
    eye = np.eye(d)

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        a = flat.reshape(d, d)
        z = (q @ a.T) @ p.T / temperature  # (n, n): row i = adapted question i against every target
        z -= z.max(axis=1, keepdims=True)
        s = np.exp(z)
        s /= s.sum(axis=1, keepdims=True)
        value = -float(np.mean(np.log(s[np.arange(n), np.arange(n)] + 1e-12)))
        diff = a - eye
        value += l2 * float(np.sum(diff * diff)) / n
        dz = s.copy()
        dz[np.arange(n), np.arange(n)] -= 1.0
        dz /= n * temperature
        grad = (dz @ p).T @ q + 2 * l2 * diff / n
        return value, grad.ravel()

    result = minimize(loss, eye.ravel(), jac=True, method="L-BFGS-B", options={"maxiter": iterations})
    return result.x.reshape(d, d).astype(np.float32)


def adapt(adapter: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``normalise(A v)``."""
    moved = adapter @ np.asarray(vector, dtype=np.float32)
    return (moved / (np.linalg.norm(moved) or 1.0)).astype(np.float32)
