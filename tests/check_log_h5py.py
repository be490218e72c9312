"""CTest: the demo's experiment log opens with h5py, has the documented layout, GPTQ beats
RTN at every bit width on the bundled model, AWQ+RTN beats RTN at 4 and 3 bits, cluster beats
RTN at 3 bits, and NF4 reports its storage with and without double quantization."""
import sys

import h5py

with h5py.File(sys.argv[1], "r") as f:
    for attr in ("qlab_version", "created_utc", "config_toml", "plugin_abi_version", "experiment"):
        assert attr in f.attrs, attr
    assert f["calibration"].attrs["n_segments"] == len(f["calibration/segment_starts"]) == 128
    ppl = {}
    for run_id, run in f["runs"].items():
        assert run.attrs["status"] == "done", (run_id, run.attrs["status"])
        linears = run["linears"]
        n = len(linears["id"])
        for column in ("block", "bits", "group_size", "n_rows", "n_cols", "rel_output_error", "weight_mse",
                       "time_quantize_s", "bits_per_weight"):
            assert len(linears[column]) == n, column
        assert len(run["blocks/block"]) == 5 and len(run["blocks/peak_rss_bytes"]) == 5
        (dataset,) = run["eval"].keys()
        ev = run["eval"][dataset]
        assert len(ev["nll"]) == ev.attrs["n_segments"] and ev.attrs["ppl"] > 1
        ppl[(run.attrs["pipeline"], int(run.attrs["quant.bits"]))] = ev.attrs["ppl"]
    for bits in (4, 3, 2):
        assert ppl[("gptq", bits)] < ppl[("rtn", bits)], (bits, ppl)
        print(f"{bits} bits: GPTQ {ppl[('gptq', bits)]:.4f} < RTN {ppl[('rtn', bits)]:.4f}")
    for bits in (4, 3):
        assert ppl[("awq+rtn", bits)] < ppl[("rtn", bits)], (bits, ppl)
        print(f"{bits} bits: AWQ+RTN {ppl[('awq+rtn', bits)]:.4f} < RTN {ppl[('rtn', bits)]:.4f}")
    assert ppl[("cluster", 3)] < ppl[("rtn", 3)], ppl
    print(f"3 bits per channel: cluster {ppl[('cluster', 3)]:.4f} < RTN g32 {ppl[('rtn', 3)]:.4f}")
    bits = {run_id: run["linears/bits_per_weight"][:].mean() for run_id, run in f["runs"].items()}
    assert 4.12 < bits["r0012"] < 4.15 and 4.5 < bits["r0011"] < 4.53, bits  # NF4: 4 + 32/64, double quantized ≈ 4.13
    if "gptq.loss" in f["runs/r0003/linears"]:
        print("gptq.loss logged per linear")
