"""Print the NTK benchmark table of ntkbook.experiments.ntk_speed and the targets it is judged by.

    .venv/bin/python benchmarks/ntk_benchmark.py            # the full profile (tens of minutes)
    .venv/bin/python benchmarks/ntk_benchmark.py --profile ci
    .venv/bin/python benchmarks/ntk_benchmark.py --only-architectures   # auto against torch.func only

The first table compares ``auto`` with the plain torch.func Jacobian contraction on the networks
of ``ARCHITECTURES`` (and says where ``auto``'s time went); the second compares the NTK methods.
"""

import argparse

import pandas as pd

from ntkbook.experiments.ntk_speed import ARCHITECTURES, MODELS, PROFILES, TIME_SPLIT, benchmark_targets, ntk_benchmark


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=sorted(PROFILES), default="full")
    p.add_argument("--sizes", type=int, nargs="+", help="N of the method comparison (default: the profile's)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--no-large", action="store_true", help="skip the large-N tasks")
    p.add_argument("--architectures", nargs="*", default=list(ARCHITECTURES), choices=list(ARCHITECTURES),
                   help="networks of the comparison with torch.func (none: skip it)")
    p.add_argument("--only-architectures", action="store_true",
                   help="only the comparison with torch.func (the method comparison on its smallest size)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, help="torch threads of every measurement (default: torch's)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="seconds of wall time, or (with --threads 1) CPU seconds: steadier on a shared machine")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    extra = dict(sizes=(8,), models=("mlp",), methods=("jacobian",), large=False) if a.only_architectures else \
        dict(sizes=a.sizes, models=a.models, large=not a.no_large)
    df = ntk_benchmark(a.profile, device=a.device, verbose=not a.quiet, architectures=a.architectures, threads=a.threads,
                       clock=a.clock, **extra)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 90,
                           "display.float_format", "{:.3g}".format):
        print(f"\nmatmul rate {df.attrs['matmul_GFLOPs']:.1f} GFLOP/s on {df.attrs['device']} "
              f"({df.attrs['threads']} threads); seconds of {df.attrs['clock']} time; peak memory = {df.attrs['peak_memory']}\n")
        arch = df[df["task"] == "arch"]
        if len(arch):
            print(arch.drop(columns=["task", "gram_GFLOPs", "matmul_GFLOPs"]).to_string(index=False))
            print()
        if not a.only_architectures:
            print(df[df["task"] != "arch"].drop(columns=["speedup_vs_torchfunc", *TIME_SPLIT]).to_string(index=False))
            print()
        print(benchmark_targets(df).to_string(index=False))


if __name__ == "__main__":
    main()
