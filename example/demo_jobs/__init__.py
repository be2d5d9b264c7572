"""The demo's jobs: scripts, a management command and the data that runs them."""
