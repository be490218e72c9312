"""CTest: `qlab eval --json` outputs, one per line on stdin, all have exactly the same
perplexity (the same machine and thread count give the same digits) and it is within a
relative tolerance of the expected value (other thread counts and CPU kernels round
differently). A regular expression cannot express the tolerance.

usage: ... | check_eval_ppl.py EXPECTED REL_TOL N_OUTPUTS"""
import json
import sys

expected, rel_tol, n_outputs = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
ppls = [json.loads(line)["ppl"] for line in sys.stdin if line.strip()]
assert len(ppls) == n_outputs, f"{len(ppls)} eval outputs, expected {n_outputs}"
assert len(set(ppls)) == 1, f"perplexities differ: {ppls}"
assert abs(ppls[0] - expected) <= rel_tol * expected, f"ppl {ppls[0]!r} is not within {rel_tol:g} of {expected!r}"
print(f"ppl {ppls[0]!r} for all {n_outputs}, within {rel_tol:g} of {expected!r}")
