#!/usr/bin/env bash
# Contention benchmark: how long one qlab job takes when it shares the cores with a second
# copy of itself or with a busy loop, under each OpenMP wait policy. Spinning threads take
# the CPU from the neighbour (defect 3 of the reliability probe: 25-30x slower); qlab now
# re-executes itself with OMP_WAIT_POLICY=passive unless the user chose a policy.
#
# usage: experiments/bench/contention.sh [--build DIR] [--repeats N] [--demo]
#                                        [--policy 'NAME VAR=VALUE'] ...
#   default job: qlab eval, bundled stories260K, 48 segments of 512 tokens
#   --demo:      qlab run experiments/demo.toml --set eval.max_segments=24 (minutes per run)
#   --policy:    measure these rows instead of the default three (before: active spinning and
#                libgomp's default spin; after: qlab's own default), e.g.
#                --policy 'passive OMP_WAIT_POLICY=passive' --policy 'spin-1000 GOMP_SPINCOUNT=1000'
# Prints, per policy, the median wall time (policies interleaved) of: the job alone; each of
# two concurrent copies; the job next to one busy loop; the last two as multiples of "alone".
# Not part of the test suite: the machine's other load moves these numbers.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build
repeats=3
demo=false
default_policies=(
  "before:active OMP_WAIT_POLICY=active"
  "before:libgomp-default GOMP_SPINCOUNT=300000"
  "after:qlab-default"
)
policies=()
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --demo) demo=true; shift ;;
    --policy) policies+=("$2"); shift 2 ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
qlab=$build/core/qlab
((${#policies[@]})) || policies=("${default_policies[@]}")
[[ -x $qlab ]] || { echo "$qlab not built" >&2; exit 1; }
scratch=$(mktemp -d)
busy_pid=
trap '[[ -n $busy_pid ]] && kill "$busy_pid" 2>/dev/null; rm -rf "$scratch"' EXIT

if $demo; then
  busy_limit=1800
  job() { "$qlab" run "$root/experiments/demo.toml" --set eval.max_segments=24 --out "$scratch/$RANDOM$RANDOM.h5"; }
else
  busy_limit=60
  job() {
    "$qlab" eval --model "$root/datasets/stories260K/stories260K.bin" \
      --data "$root/datasets/tinystories/tinystories_eval.txt" --seqlen 512 --max-segments 48
  }
fi

# seconds_of VAR=VALUE...: wall time of one job under that environment (the user's own
# OMP_WAIT_POLICY / GOMP_SPINCOUNT removed first).
seconds_of() {
  local t0 t1
  t0=$(date +%s.%N)
  (unset OMP_WAIT_POLICY GOMP_SPINCOUNT; export "$@"; job) > /dev/null 2> "$scratch/stderr" ||
    { echo "job failed:" >&2; cat "$scratch/stderr" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
median() { grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "job: $($demo && echo "reduced demo" || echo "eval 48x512"), $repeats repeats, $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# Policies take turns within each repeat, so a change in the machine's other load hits all.
declare -A alone pair busy
for ((i = 0; i < repeats; ++i)); do
  for entry in "${policies[@]}"; do
    read -r name assignments <<< "$entry"
    read -ra env_vars <<< "${assignments:-}"
    alone[$name]+=" $(seconds_of "${env_vars[@]}")"
    seconds_of "${env_vars[@]}" > "$scratch/first" & first=$!
    pair[$name]+=" $(seconds_of "${env_vars[@]}")"
    wait "$first"
    pair[$name]+=" $(cat "$scratch/first")"
    timeout "$busy_limit" sh -c 'while :; do :; done' & busy_pid=$!
    busy[$name]+=" $(seconds_of "${env_vars[@]}")"
    kill "$busy_pid" 2>/dev/null || true
    wait "$busy_pid" 2>/dev/null || true
    busy_pid=
  done
done
printf '%-24s %9s %9s %7s %9s %7s\n' policy "alone s" "pair s" "pair/x" "busy s" "busy/x"
for entry in "${policies[@]}"; do
  read -r name _ <<< "$entry"
  a=$(tr ' ' '\n' <<< "${alone[$name]}" | median)
  p=$(tr ' ' '\n' <<< "${pair[$name]}" | median)
  b=$(tr ' ' '\n' <<< "${busy[$name]}" | median)
  awk -v n="$name" -v a="$a" -v p="$p" -v b="$b" \
    'BEGIN { printf "%-24s %9.3f %9.3f %7.2f %9.3f %7.2f\n", n, a, p, p / a, b, b / a }'
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
