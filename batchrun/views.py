"""JSON views over the run logs; see ``batchrun.urls``."""
