"""Answers: shaped, cited extractive answers (and the texts shared with generated ones)."""

from .compose import TEXT, AnswerContext, ExtractiveAnswerer, decide_shape

__all__ = ["TEXT", "AnswerContext", "ExtractiveAnswerer", "decide_shape"]
