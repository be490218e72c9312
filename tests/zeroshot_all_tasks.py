"""CTest (slow): `qlab eval --tasks` runs every bundled task on stories260K, every document
of each (the counts the harness's data has), with finite metrics in their ranges; the log
it reads back. The context is cut to 64 tokens (a third of the full run's time), so left
truncation and --overlong keep-tail run on thousands of documents.

usage: zeroshot_all_tasks.py QLAB SOURCE_DIR WORK_DIR"""
import json
import math
import os
import shutil
import subprocess
import sys

qlab, source, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
log = os.path.join(work, "zs.h5")
tasks = ["lambada_openai", "piqa", "arc_easy", "arc_challenge", "boolq", "winogrande", "mmlu"]
docs = {"lambada_openai": 5153, "piqa": 1838, "arc_easy": 2376, "arc_challenge": 1172, "boolq": 3270, "winogrande": 1267, "mmlu": 14042}
out = subprocess.run([qlab, "eval", "--model", f"{source}/datasets/stories260K/stories260K.bin", "--tasks", ",".join(tasks),
                      "--max-length", "64", "--overlong", "keep-tail", "--json", "--log", log],
                     capture_output=True, text=True)
if out.returncode != 0:
    sys.exit(f"FAILED: qlab eval exited {out.returncode}: {out.stderr[-2000:]}")
result = json.loads(out.stdout)
assert result["harness"] == "v0.4" and result["max_length"] == 64 and result["bos"] is False, result
failures = []
for task, n in docs.items():
    r = result["tasks"].get(task)
    if r is None or r["n"] != n:
        failures.append(f"{task}: {r and r['n']} documents, expected {n}")
        continue
    for metric in ("acc", "acc_norm", "ppl"):
        if metric not in r:
            continue
        v = r[metric]
        ok = math.isfinite(v) and (v > 1 if metric == "ppl" else 0 <= v <= 1)
        if not ok:
            failures.append(f"{task} {metric} = {v}")
subjects = [k for k in result["tasks"] if k.startswith("mmlu/")]
if len(subjects) != 57 or sum(result["tasks"][k]["n"] for k in subjects) != 14042:
    failures.append(f"{len(subjects)} MMLU subjects")
# The log reads back (h5py is optional on CI machines; qlab report is not).
report = subprocess.run([qlab, "report", log, "--format", "json"], capture_output=True, text=True)
if report.returncode != 0:
    failures.append(f"qlab report exited {report.returncode}: {report.stderr[-500:]}")
if failures:
    print("FAILED:\n" + "\n".join(failures))
    sys.exit(1)
print(f"all checks passed: {sum(docs.values())} documents in {result['seconds']:.1f} s")
