from .pairs import PAIRS, SUMMARY, refusal_pairs, run_datagen, to_trl

__all__ = ["PAIRS", "SUMMARY", "refusal_pairs", "run_datagen", "to_trl"]
