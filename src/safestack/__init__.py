"""safestack: red-team, align, evaluate and guard LLMs — measured."""

__version__ = "0.1.0"
