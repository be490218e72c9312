"""SqueezeLLM's clustering loop (quantization/nuq.py): one scikit-learn KMeans per output row,
n_clusters = 2^bits, random_state=0, n_init="auto", max_iter=50, sample_weight = the row's
sensitivities. Times ROWS rows of a 4096-wide layer (the same shapes and Hessian-diagonal
weights as qlab_bench_kmeans) and prints the time per row and the projection to 4096 rows.
Needs Debian's python3-sklearn. Usage: python3 kmeans_sklearn_reference.py [ROWS]"""
import sys
import time

import numpy as np
from sklearn.cluster import KMeans

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 64
cols = 4096
rng = np.random.default_rng(1)
w = rng.normal(0.0, 0.02, size=(rows, cols)).astype(np.float32)
sensitivity = (10.0 ** rng.uniform(-1.0, 1.0, size=cols)).astype(np.float32)
for bits in (3, 4):
    t0 = time.perf_counter()
    for r in range(rows):
        KMeans(n_clusters=2**bits, random_state=0, n_init="auto", max_iter=50).fit(
            w[r].reshape(-1, 1), sample_weight=sensitivity)
    per_row = (time.perf_counter() - t0) / rows
    print(f"scikit-learn {bits} bits: {per_row * 1e6:.0f} µs per row, {per_row * 4096:.1f} s for 4096 rows")
