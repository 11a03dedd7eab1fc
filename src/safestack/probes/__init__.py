"""Representation engineering on local models: activation capture, linear probes by layer, the refusal direction
(ablation / addition), and a runtime circuit breaker (``cb:<default|hf:path>?probe=FILE`` targets)."""
