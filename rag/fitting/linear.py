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
    the ridge penalty on standardised weights (per group on average). All groups are scored in
    one matrix product; per-group sums are segment reductions.
    """
    from scipy.optimize import minimize

    usable = [g for g in groups if len(g.x) > 1 and (g.positive.any() or (g.negative is not None and g.negative.any()))]
    if not usable:
        raise ValueError("no question has an acceptable or a known-wrong candidate among its candidates")
    x_all = np.concatenate([g.x for g in usable]).astype(np.float64)
    mean, scale = _standardiser(x_all)
    x = (x_all - mean) / scale
    sizes = np.array([len(g.x) for g in usable])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group = np.repeat(np.arange(len(usable)), sizes)
    pos = np.concatenate([g.positive for g in usable]).astype(np.float64)
    neg = np.concatenate([g.negative if g.negative is not None else np.zeros(len(g.x), bool) for g in usable]).astype(np.float64)
    weight = np.array([g.weight for g in usable], dtype=np.float64)
    has_pos = np.add.reduceat(pos, starts) > 0
    has_neg = np.add.reduceat(neg, starts) > 0
    mask = np.array([f not in fixed_zero for f in features], dtype=np.float64)
    total = weight.sum()

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        w = w * mask
        s = x @ w
        s = s - np.maximum.reduceat(s, starts)[group]
        e = np.exp(s)
        p = e / np.add.reduceat(e, starts)[group]
        value = 0.0
        grad = np.zeros_like(w)
        mass = np.maximum(np.add.reduceat(p * pos, starts), 1e-300)
        gw = weight * has_pos
        value -= float(np.sum(gw * np.log(mass)))
        q = p * pos / mass[group]
        grad -= x.T @ (gw[group] * (q - p))
        if has_neg.any():
            bad = np.add.reduceat(p * neg, starts)
            good = np.maximum(1.0 - bad, 1e-12)
            nw = weight * has_neg
            value -= float(np.sum(nw * np.log(good)))
            xbar = np.add.reduceat(p[:, None] * x, starts)
            coef = (nw / good)[group] * p * neg
            grad += x.T @ coef - xbar.T @ np.add.reduceat(coef, starts)
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
    x: np.ndarray, targets: np.ndarray, *, l2: float = 1.0, rank: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression with soft targets (rows sum to 1): weights (k, d) and biases (k,).

    Fitted in the ``rank`` principal directions of ``x`` (a few hundred labelled questions do
    not determine more), then mapped back to the input space, so it applies to raw vectors.
    """
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    n, d = x.shape
    k = t.shape[1]
    centre = x.mean(axis=0)
    if d > rank:
        _, _, vt = np.linalg.svd(x - centre, full_matrices=False)
        basis = vt[:rank]  # (r, d)
    else:
        basis = np.eye(d)
    z = (x - centre) @ basis.T
    r = z.shape[1]

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w = params[: k * r].reshape(k, r)
        b = params[k * r :]
        s = z @ w.T + b
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.sum(t * np.log(p + 1e-12)) / n + 0.5 * l2 * float(np.sum(w * w)) / n
        g = (p - t) / n
        gw = g.T @ z + l2 * w / n
        gb = g.sum(axis=0)
        return value, np.concatenate([gw.ravel(), gb])

    result = minimize(loss, np.zeros(k * r + k), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    w_small = result.x[: k * r].reshape(k, r)
    bias = result.x[k * r :]
    weights = w_small @ basis  # (k, d)
    return weights, bias - weights @ centre


def softmax_rows(s: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    s = np.asarray(s, dtype=np.float64)
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    return p / p.sum(axis=-1, keepdims=True)
