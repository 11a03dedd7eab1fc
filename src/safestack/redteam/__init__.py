from .runner import FINDINGS, SUMMARY, run_redteam

__all__ = ["FINDINGS", "SUMMARY", "run_redteam"]
