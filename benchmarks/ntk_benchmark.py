"""Print the NTK benchmark table of ntkbook.experiments.ntk_speed and the targets it is judged by.

    .venv/bin/python benchmarks/ntk_benchmark.py            # the full profile (tens of minutes)
    .venv/bin/python benchmarks/ntk_benchmark.py --profile ci
    .venv/bin/python benchmarks/ntk_benchmark.py --only-architectures   # auto against torch.func only

The first table compares ``auto`` with the plain torch.func Jacobian contraction on the networks
of ``ARCHITECTURES`` (and says where ``auto``'s time went); the second compares the NTK methods.

With ``--neural-tangents PYTHON`` (an interpreter that has jax and neural-tangents: an optional
comparison, never needed by the book or CI), ``benchmarks/neural_tangents_times.py`` times
neural-tangents' three implementations on the same MLP and CNN right after, and a third table
puts them beside ours, each as a speed-up over torch.func's Jacobian contraction of this run.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

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
    p.add_argument("--neural-tangents", metavar="PYTHON",
                   help="an interpreter with jax and neural-tangents: time their implementations too")
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
        if a.neural_tangents:
            print()
            print(neural_tangents_table(df, a.neural_tangents).to_string(index=False))


#: neural-tangents' networks (benchmarks/neural_tangents_times.py) -> the same network in our table
NT_NETWORKS = {"mlp": "mlp_linear", "cnn": "cnn"}


def neural_tangents_table(df: pd.DataFrame, python: str) -> pd.DataFrame:
    """neural-tangents' times on the networks of ``NT_NETWORKS`` at our N, beside ours: one
    row per implementation, with its speed-up over our torch.func Jacobian contraction."""
    arch = df[df["task"] == "arch"]
    sizes = [f"{nt}={int(arch[arch['model'] == ours]['N'].iloc[0])}" for nt, ours in NT_NETWORKS.items()
             if (arch["model"] == ours).any()]
    if not sizes:
        return pd.DataFrame({"note": ["no MLP or CNN row to compare with"]})
    script = Path(__file__).with_name("neural_tangents_times.py")
    done = subprocess.run([python, str(script), "--sizes", *sizes], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        return pd.DataFrame({"note": [f"{python} could not run neural-tangents (exit {done.returncode})"]})
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    for nt_name, ours in NT_NETWORKS.items():
        if nt_name not in theirs["seconds"]:
            continue
        mine = arch[arch["model"] == ours].set_index("method")["seconds"]
        reference = float(mine["torch.func"])
        times = {"ntkbook auto": float(mine["auto"]), "torch.func Jacobian contraction": reference,
                 **{f"neural-tangents {k}": v for k, v in theirs["seconds"][nt_name].items() if k != "N"}}
        rows += [{"network": ours, "N": theirs["seconds"][nt_name]["N"], "implementation": k, "seconds": v,
                  "speedup_vs_torchfunc": reference / v} for k, v in times.items()]
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
