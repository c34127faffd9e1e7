"""Components fitted from labelled questions for the embedding model in use.

Ranking weights, the abstention model, section types, question intent and scope, and the
answer-shape classifier are learned by ``rag tune`` and saved as a :class:`~rag.fitting.artifact.Calibration`:
plain JSON and ``.npy`` files that carry the model's fingerprint and the hash of the data they
were fitted on. Nothing here holds a score threshold of one model.
"""
