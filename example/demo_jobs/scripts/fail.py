"""A demo job that fails: it explains why on stderr and exits with status 3."""

import sys

print("Importing rents from rents.csv", flush=True)
print("error: rents.csv line 17: the rent is not a number: '12O0'", file=sys.stderr)
sys.exit(3)
