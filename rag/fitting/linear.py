"""Linear scorers and their fitting: a listwise ranker and a logistic classifier (numpy + scipy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LinearModel:
    """``w · standardise(x) + b`` over named features; standardisation is part of the model."""

    features: tuple[str, ...]
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray

    def score(self, x: np.ndarray) -> np.ndarray:
        """Scores of the rows of ``x`` (columns in :attr:`features` order)."""
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.weights + self.bias

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Logistic of :meth:`score`."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.score(x), -50, 50)))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (weights listed by feature name)."""
        return {
            "features": list(self.features),
            "weights": [float(w) for w in self.weights],
            "bias": float(self.bias),
            "mean": [float(m) for m in self.mean],
            "scale": [float(s) for s in self.scale],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearModel:
        """Inverse of :meth:`to_json`; ``ValueError`` when lengths disagree."""
        features = tuple(str(f) for f in data["features"])
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("weights", "mean", "scale")]
        if any(a.shape != (len(features),) for a in arrays):
            raise ValueError("weights, mean and scale must have one value per feature")
        if np.any(arrays[2] <= 0):
            raise ValueError("scale values must be positive")
        return cls(features, arrays[0], float(data["bias"]), arrays[1], arrays[2])

    def described(self) -> dict[str, float]:
        """Weight per feature, for reports."""
        return {f: round(float(w), 4) for f, w in zip(self.features, self.weights)}


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


@dataclass(frozen=True)
class RankingGroup:
    """The candidates of one question: feature rows, which are acceptable, and a weight."""

    x: np.ndarray  # (candidates, features)
    positive: np.ndarray  # (candidates,) bool
    negative: np.ndarray | None = None  # (candidates,) bool: known wrong (disliked answers)
    weight: float = 1.0


def fit_ranker(
    groups: Sequence[RankingGroup], features: Sequence[str], *, l2: float = 1.0, fixed_zero: Sequence[str] = ()
) -> LinearModel:
    """Listwise softmax ranker: maximise the probability mass on acceptable candidates.

    For a group with positives P the loss is ``-log Σ_{i∈P} softmax(s)_i``; a group with known
    wrong candidates N (and no positives) adds ``-log(1 - Σ_{i∈N} softmax(s)_i)``. ``l2`` is
    the ridge penalty on standardised weights (per group on average).
    """
    from scipy.optimize import minimize

    usable = [g for g in groups if len(g.x) > 1 and (g.positive.any() or (g.negative is not None and g.negative.any()))]
    if not usable:
        raise ValueError("no question has an acceptable or a known-wrong candidate among its candidates")
    mean, scale = _standardiser(np.concatenate([g.x for g in usable]))
    xs = [(g.x - mean) / scale for g in usable]
    mask = np.array([f not in fixed_zero for f in features], dtype=np.float64)
    total = sum(g.weight for g in usable)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        w = w * mask
        value, grad = 0.0, np.zeros_like(w)
        for g, x in zip(usable, xs):
            s = x @ w
            s = s - s.max()
            p = np.exp(s)
            p /= p.sum()
            if g.positive.any():
                mass = p[g.positive].sum()
                q = np.where(g.positive, p, 0.0) / max(mass, 1e-300)
                value -= g.weight * np.log(max(mass, 1e-300))
                grad -= g.weight * (x.T @ (q - p))
            if g.negative is not None and g.negative.any():
                bad = p[g.negative].sum()
                good = max(1.0 - bad, 1e-12)
                # d/dw -log(1 - Σ_N p) = (Σ_N p (x_i - x̄)) / (1 - Σ_N p)
                xbar = p @ x
                value -= g.weight * np.log(good)
                grad += g.weight * ((np.where(g.negative, p, 0.0) @ (x - xbar)) / good)
        value = value / total + 0.5 * l2 * float(w @ w) / total
        grad = grad / total + l2 * w / total
        return value, grad * mask

    result = minimize(loss, np.zeros(len(features)), jac=True, method="L-BFGS-B")
    return LinearModel(tuple(features), result.x * mask, 0.0, mean, scale)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, features: Sequence[str], *, l2: float = 1.0, sample_weight: np.ndarray | None = None
) -> LinearModel:
    """Logistic regression (y in {0, 1}) with a ridge penalty on standardised weights."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(set(y.tolist())) < 2:
        raise ValueError("logistic fitting needs examples of both classes")
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean, scale = _standardiser(x)
    z = (x - mean) / scale
    n = sw.sum()

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        s = z @ w + b
        p = 1.0 / (1.0 + np.exp(-np.clip(s, -50, 50)))
        eps = 1e-12
        value = -np.sum(sw * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))) / n + 0.5 * l2 * float(w @ w) / n
        r = sw * (p - y) / n
        grad = np.concatenate([z.T @ r + l2 * w / n, [r.sum()]])
        return value, grad

    result = minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B")
    return LinearModel(tuple(features), result.x[:-1], float(result.x[-1]), mean, scale)


def fit_softmax_classifier(
    x: np.ndarray, targets: np.ndarray, *, l2: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression with soft targets (rows sum to 1): weights (k, d) and biases (k,)."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    n, d = x.shape
    k = t.shape[1]

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w = params[: k * d].reshape(k, d)
        b = params[k * d :]
        s = x @ w.T + b
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.sum(t * np.log(p + 1e-12)) / n + 0.5 * l2 * float(np.sum(w * w)) / n
        r = (p - t) / n
        gw = r.T @ x + l2 * w / n
        gb = r.sum(axis=0)
        return value, np.concatenate([gw.ravel(), gb])

    result = minimize(loss, np.zeros(k * d + k), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x[: k * d].reshape(k, d), result.x[k * d :]


def softmax_rows(s: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    s = np.asarray(s, dtype=np.float64)
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    return p / p.sum(axis=-1, keepdims=True)
