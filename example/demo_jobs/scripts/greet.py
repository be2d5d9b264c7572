"""A demo job: a few lines on stdout and one on stderr."""

import os
import sys
import time

print(f"Hello from {os.environ.get('BATCHRUN_JOB')}, pid {os.getpid()}", flush=True)
time.sleep(0.5)
print("Something worth a warning happened.", file=sys.stderr, flush=True)
time.sleep(0.5)
print(f"Scheduled for {os.environ.get('BATCHRUN_SCHEDULED_FOR') or 'now'}.")
