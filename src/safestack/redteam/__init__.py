from .runner import FINDINGS, SUMMARY, redteam_prompts, run_redteam

__all__ = ["FINDINGS", "SUMMARY", "redteam_prompts", "run_redteam"]
