"""Schedule and run batch jobs from the Django admin."""

__version__ = "0.1.0.dev0"
