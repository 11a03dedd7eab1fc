"""Human review in the loop: expert review of high-severity findings and pairs, blind A/B ratings, the guard's
review queue — labels in an append-only store that feed training (``review.required``), judge calibration
(``--labels review:DB``) and the report (human win rates)."""

from .records import ReviewConflict, ReviewLabel, ReviewPending
from .store import LabelStore, resolve_db

__all__ = ["LabelStore", "ReviewConflict", "ReviewLabel", "ReviewPending", "resolve_db"]
