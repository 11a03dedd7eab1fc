from .runner import METRICS, RESPONSES, compute_metrics, run_eval, subsample

__all__ = ["METRICS", "RESPONSES", "compute_metrics", "run_eval", "subsample"]
