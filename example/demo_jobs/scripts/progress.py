"""A demo job that runs about 40 seconds and draws a progress bar with \\r."""

import sys
import time

STEPS = 40
WIDTH = 30

print("Recalculating the rent index", flush=True)
for step in range(STEPS + 1):
    done = WIDTH * step // STEPS
    bar = "#" * done + "." * (WIDTH - done)
    sys.stdout.write(f"\r[{bar}] {100 * step // STEPS:3d}%")
    sys.stdout.flush()
    if step < STEPS:
        time.sleep(1)
print("\nDone.", flush=True)
