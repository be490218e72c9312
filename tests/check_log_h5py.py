"""CTest: the experiment log opens with h5py and has the documented layout."""
import sys

import h5py

with h5py.File(sys.argv[1], "r") as f:
    for attr in ("qlab_version", "created_utc", "config_toml", "plugin_abi_version", "experiment"):
        assert attr in f.attrs, attr
    assert f["calibration"].attrs["n_segments"] == len(f["calibration/segment_starts"])
    run = f["runs/r0000"]
    assert run.attrs["status"] == "done", run.attrs["status"]
    linears = run["linears"]
    n = len(linears["id"])
    for column in ("block", "bits", "group_size", "n_rows", "n_cols", "rel_output_error", "weight_mse",
                   "time_quantize_s", "bits_per_weight"):
        assert len(linears[column]) == n, column
    blocks = run["blocks"]
    assert len(blocks["block"]) == 5 and len(blocks["peak_rss_bytes"]) == 5
    (dataset,) = run["eval"].keys()
    ev = run["eval"][dataset]
    assert len(ev["nll"]) == ev.attrs["n_segments"] and ev.attrs["ppl"] > 1
    print(f"h5py read {n} linear rows, ppl {ev.attrs['ppl']:.4f}")
