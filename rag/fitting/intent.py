"""Section types and question intent.

Career guides of one collection share a template (what the job is, duties, skills and tools,
collaboration, career path, outlook, how to learn, employers, interview questions, summary).
Each top-level section gets a *type*: the nearest type prototype to its heading vector, the
prototypes being mean heading vectors of the template sections of the training guides. A
question gets a distribution over the same types from a multinomial logistic model on its
vector, fitted on labelled questions. Ranking then prefers sections of the type the question
asks about, and learns per-type priors (a summary is close to every question, so it is rarely
the right answer unless asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linear import softmax_rows

#: Section types of the guide template, in template order.
SECTION_TYPES = (
    "overview",
    "duties",
    "skills",
    "collaboration",
    "career",
    "outlook",
    "learning",
    "employers",
    "interview",
    "summary",
    "tags",
)

#: The emoji that number top-level headings in template guides (for labelling training guides).
TEMPLATE_MARKERS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟", "🏷️")


def template_type(h2: str) -> int | None:
    """The template position of a top-level heading by its leading emoji (training guides only)."""
    for i, marker in enumerate(TEMPLATE_MARKERS):
        if h2.startswith(marker) or h2.startswith(marker.replace("\ufe0f", "")):
            return i
    return None


@dataclass(frozen=True)
class SectionTyper:
    """Assigns a type to each top-level heading vector: the nearest prototype (cosine)."""

    prototypes: np.ndarray  # (types, d), normalised

    def types_of(self, heading_vectors: np.ndarray) -> np.ndarray:
        """Type index of each row."""
        if not len(heading_vectors):
            return np.zeros(0, dtype=np.int64)
        return np.argmax(np.asarray(heading_vectors, dtype=np.float32) @ self.prototypes.T, axis=1)

    @classmethod
    def fit(cls, heading_vectors: np.ndarray, labels: np.ndarray, n_types: int = len(SECTION_TYPES)) -> SectionTyper:
        """Prototypes = normalised mean heading vector per type (a type with no example gets zeros)."""
        d = heading_vectors.shape[1]
        protos = np.zeros((n_types, d), dtype=np.float32)
        for t in range(n_types):
            rows = heading_vectors[labels == t]
            if len(rows):
                mean = rows.mean(axis=0)
                protos[t] = mean / (np.linalg.norm(mean) or 1.0)
        return cls(protos)


@dataclass(frozen=True)
class IntentModel:
    """p(section type | question vector): a multinomial logistic model."""

    weights: np.ndarray  # (types, d)
    bias: np.ndarray  # (types,)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(n, types) probabilities for (n, d) question vectors (or (types,) for one vector)."""
        v = np.asarray(vectors, dtype=np.float64)
        single = v.ndim == 1
        p = softmax_rows(np.atleast_2d(v) @ self.weights.T + self.bias)
        return p[0] if single else p


@dataclass(frozen=True)
class ScopeModel:
    """p(a career guide answers this | question vector): logistic on the vector alone.

    Fitted on answerable and unanswerable training questions, it learns the kinds of question
    guides never answer (a named company's pay, visas, exam dates, a named person, small talk)
    in the embedding space, so that an English visa question resembles a Japanese one.
    """

    weights: np.ndarray  # (d,)
    bias: float

    def logit(self, vector: np.ndarray) -> float:
        """The log-odds that the question is answerable."""
        return float(np.asarray(vector, dtype=np.float64) @ self.weights + self.bias)
