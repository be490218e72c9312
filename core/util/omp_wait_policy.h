// OpenMP threads that spin while they wait take the CPU from any other process on the
// machine: with one busy neighbour on 2 cores, `qlab eval` ran 25-30x slower. libgomp reads
// OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when it is loaded (before main), so the only way
// to change the policy from inside qlab is to start the program again with one of them set.
#pragma once

namespace qlab {

// Call first thing in main. When the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT,
// sets OMP_WAIT_POLICY=passive (waiting threads sleep at once: the fastest policy measured
// whenever other jobs share the cores, ~30% slower than spinning on an idle machine; see
// experiments/bench/contention.sh) and re-executes this program: same pid and arguments,
// the environment plus that variable, which also stops a second re-execution. Returns when
// the user chose a policy or the re-execution failed (then libgomp spins, as before).
void reexec_with_passive_omp_wait(char** argv);

}  // namespace qlab
