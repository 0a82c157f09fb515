"""Print the NTK benchmark table of ntkbook.experiments.ntk_speed and the targets it is judged by.

    .venv/bin/python benchmarks/ntk_benchmark.py            # the full profile (tens of minutes)
    .venv/bin/python benchmarks/ntk_benchmark.py --profile ci
"""

import argparse

import pandas as pd
import torch

from ntkbook.experiments.ntk_speed import MODELS, PROFILES, benchmark_targets, ntk_benchmark


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=sorted(PROFILES), default="full")
    p.add_argument("--sizes", type=int, nargs="+", help="N of the method comparison (default: the profile's)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--no-large", action="store_true", help="skip the large-N tasks")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    df = ntk_benchmark(a.profile, sizes=a.sizes, models=a.models, large=not a.no_large, device=a.device,
                       verbose=not a.quiet)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 90,
                           "display.float_format", "{:.3g}".format):
        print(f"\nmatmul rate {df.attrs['matmul_GFLOPs']:.1f} GFLOP/s on {df.attrs['device']} "
              f"({torch.get_num_threads()} threads); peak memory = {df.attrs['peak_memory']}\n")
        print(df.to_string(index=False))
        print()
        print(benchmark_targets(df).to_string(index=False))


if __name__ == "__main__":
    main()
