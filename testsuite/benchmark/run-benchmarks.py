#!/usr/bin/env python3
"""Runs a Google Benchmark program and prints each benchmark beside its baseline.

Usage: run-benchmarks.py BENCHMARK_BINARY [extra google-benchmark args...]

Benchmarks are paired by name: BM_<Thing>_<Ours>[/arg] with BM_<Thing>_Baseline_<Other>[/arg].
The ratio is ours / baseline in items/s (or bytes/s): above 1.0 means faster than the baseline.
"""
import json
import subprocess
import sys


def rate(b):
    for key in ("items_per_second", "bytes_per_second"):
        if key in b:
            return b[key], key
    return 1e9 / b["real_time"], "per_second"


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    out = subprocess.run([sys.argv[1], "--benchmark_format=json"] + sys.argv[2:],
                         check=True, capture_output=True, text=True).stdout
    benches = [b for b in json.loads(out)["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    by_key = {}
    for b in benches:
        name, _, arg = b["name"].partition("/")
        parts = name.split("_")
        thing = parts[1]
        is_base = len(parts) > 2 and parts[2] == "Baseline"
        by_key.setdefault((thing, arg.split("/")[0]), {})["base" if is_base else "ours"] = b
    print(f"{'benchmark':42} {'ours':>14} {'baseline':>14} {'ratio':>7}")
    for (thing, arg), pair in by_key.items():
        if "ours" not in pair or "base" not in pair:
            continue
        ours, unit = rate(pair["ours"])
        base, _ = rate(pair["base"])
        label = pair["ours"]["name"] + "  vs  " + pair["base"]["name"].split("_", 3)[-1]
        if unit == "items_per_second":
            scale, suffix = (1e6, "M") if min(ours, base) >= 1e5 else (1e3, "k")
        else:
            scale, suffix = (1 << 20, "MiB")
        print(f"{label:42} {ours / scale:11.2f} {suffix:>2} {base / scale:11.2f} {suffix:>2} {ours / base:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
