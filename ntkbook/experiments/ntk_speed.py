"""How fast is ``ntkbook.ntk``? The benchmark behind the appendix "Computing NTKs fast".

``ntk_benchmark(profile)`` times every NTK method of :mod:`ntkbook.ntk` on the two networks of
the issue, a 3-hidden-layer width-512 ReLU MLP and the book's ECRN (width 256, depth 8), both
with 16 inputs, one output and NTK parameterization, and returns one row per measurement:
seconds (the best of up to 3 runs after a warm-up on 8 samples), peak memory, speed-up over the torch.func Jacobian contraction measured in the same
run, and the achieved GFLOP/s of the Gram products against this machine's matmul rate
(:func:`matmul_rate`). The "full" profile adds the large-N tasks: the N = 10,000 NTK of the
ECRN, top-10 eigenvalues of a formed N = 10,000 NTK by Lanczos against a full ``eigvalsh``,
and the matrix-free top-10 eigenvalues of the ECRN at N = 50,000. The "ci" profile is the
same table at small N and runs in under a minute.

Peak memory is measured honestly: with ``isolate=True`` (the default for "full") each
measurement runs in a fresh Python process and reports that process's peak resident set size
(``resource.getrusage``, so it includes the interpreter and torch, about 0.3-0.5 GB); with
``isolate=False`` a thread samples the resident set size every few milliseconds and the
increase over the value before the measurement is reported. On a GPU it is
``torch.cuda.max_memory_allocated``.

Example::

    >>> from ntkbook.experiments.ntk_speed import ntk_benchmark, benchmark_targets
    >>> table = ntk_benchmark("ci")                     # one row per (model, N, task, method)
    >>> benchmark_targets(table)                        # the issue's targets, met or not
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = ["matmul_rate", "bench_model", "ntk_benchmark", "benchmark_targets", "PROFILES"]

#: What each profile measures. ``sizes``: N of the method comparison; ``time_limit``: a method
#: whose time, extrapolated as N^2 from the previous size, exceeds this many seconds is skipped
#: (and the table says so); the ``*_n`` entries are the sizes of the large-N tasks; ``rate_per_row``:
#: measure the matmul rate again right before each Gram-product row (the machine may be shared).
PROFILES = {
    "ci": dict(sizes=(64, 128), time_limit=5.0, ntk_n=1000, eig_n=800, free_n=1000, isolate=False, rate_per_row=False),
    "full": dict(sizes=(256, 1024, 4096), time_limit=600.0, ntk_n=10_000, eig_n=10_000, free_n=50_000, isolate=True,
                 rate_per_row=True),
}
METHODS = ("jacobian", "ntvp", "structured", "auto")
#: An NTK is timed as the best of REPEATS runs after a warm-up on 8 samples; a run longer than
#: REPEAT_BELOW seconds is not repeated.
REPEATS, REPEAT_BELOW = 3, 5.0


# ----------------------------------------------------------------------------- measurement helpers


def matmul_rate(n: int = 2048, *, dtype=torch.float32, device="cpu", repeats: int = 5) -> float:
    """This machine's matrix-product rate in GFLOP/s: the best of ``repeats`` (n, n) @ (n, n) products."""
    device = torch.device(device)
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g, dtype=dtype).to(device)
    b = torch.randn(n, n, generator=g, dtype=dtype).to(device)
    best = math.inf
    for _ in range(repeats + 1):  # the first product warms up the library
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _rss():
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except Exception:  # pragma: no cover
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _PeakRSS:
    """Samples the resident set size in a thread; ``peak`` is the largest increase seen (bytes)."""

    def __init__(self, interval=0.002):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def __enter__(self):
        self.base = _rss()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss() - self.base)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss() - self.base)


# ----------------------------------------------------------------------------- the two networks


class _NTKDense(nn.Linear):
    """y = (1 / sqrt(fan_in)) W x + b with W, b ~ N(0, 1): a dense layer in NTK parameterization."""

    def __init__(self, fan_in, fan_out, generator):
        super().__init__(fan_in, fan_out)
        with torch.no_grad():
            self.weight.copy_(torch.randn(fan_out, fan_in, generator=generator))
            self.bias.copy_(torch.randn(fan_out, generator=generator))

    def forward(self, x):
        return nn.functional.linear(x, self.weight / math.sqrt(self.in_features), self.bias)


def bench_model(name: str, seed: int = 0) -> nn.Module:
    """The benchmark's networks: ``"mlp"`` (16 -> 3 x 512 ReLU -> 1, NTK parameterization) and ``"ecrn"``
    (``ntkbook.models.ECRN(16, 1, width=256, depth=8)``). The MLP is ``ntkbook.models.MLP`` when that
    module imports, else an equivalent stack of ``nn.Linear`` layers; the ECRN needs ntkbook.models."""
    if name == "mlp":
        try:
            from ntkbook.models import MLP

            return MLP(16, 1, width=512, depth=3, activation="relu", parameterization="ntk", seed=seed)
        except ImportError:
            g = torch.Generator().manual_seed(seed)
            layers, d = [], 16
            for _ in range(3):
                layers += [_NTKDense(d, 512, g), nn.ReLU()]
                d = 512
            return nn.Sequential(*layers, _NTKDense(512, 1, g))
    if name == "ecrn":
        from ntkbook.models import ECRN

        return ECRN(16, 1, width=256, depth=8, seed=seed)
    raise ValueError(f"The 'name' parameter of bench_model must be 'mlp' or 'ecrn'. Got {name!r} instead.")


def _has_models():
    try:
        import ntkbook.models  # noqa: F401

        return True
    except ImportError:
        return False


def _inputs(n, seed, device):
    g = torch.Generator().manual_seed(seed + 1)
    return torch.randn(n, 16, generator=g).to(device)


# ----------------------------------------------------------------------------- one measurement


def _run_case(spec: dict) -> dict:
    """Run one measurement in this process: spec has task, model, n, method, seed, device."""
    from ntkbook.ntk import empirical_ntk, ntk_eigenvalues, ntk_spectrum

    device = torch.device(spec.get("device", "cpu"))
    model = bench_model(spec["model"], spec.get("seed", 0)).to(device)
    x = _inputs(spec["n"], spec.get("seed", 0), device)
    task = spec["task"]
    out: dict = {}
    if task == "ntk":  # warm-up on 8 samples: thread pools and first-call set-up stay out of the timing
        empirical_ntk(model, x[:8], method=spec["method"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with _PeakRSS() as mem:
        _sync(device)
        t0 = time.perf_counter()
        if task == "ntk":
            if spec["method"] in ("structured", "auto") and spec.get("rate_per_row", True):  # the rate now
                out["matmul_GFLOPs"] = matmul_rate(device=device)
            best = None
            for _ in range(REPEATS):
                stats: dict = {}
                _sync(device)
                t0 = time.perf_counter()
                theta = empirical_ntk(model, x, method=spec["method"], stats=stats, out_device="cpu")
                _sync(device)
                dt = time.perf_counter() - t0
                del theta
                if best is None or dt < best[0]:
                    best = (dt, stats)
                if dt > REPEAT_BELOW:
                    break
            dt, stats = best
            out.update(method_used=stats["method"], gram_flops=stats["gram_flops"], gram_seconds=stats["gram_seconds"],
                       block_size=stats["block_size"], ntk_seconds=dt)
        elif task == "eig_formed":
            theta = empirical_ntk(model, x, out_device="cpu")
            t_form = time.perf_counter() - t0
            t1 = time.perf_counter()
            top = ntk_spectrum(theta, 10, solver="lanczos")
            t_lanczos = time.perf_counter() - t1
            t1 = time.perf_counter()
            full = torch.linalg.eigvalsh(theta)
            t_eigvalsh = time.perf_counter() - t1
            ref = full.flip(0)[:10]
            out.update(t_form=t_form, t_lanczos=t_lanczos, t_eigvalsh=t_eigvalsh,
                       max_rel_diff=float(((top - ref).abs() / ref.abs()).max()), top1=float(top[0]))
        elif task == "eig_free":
            top = ntk_eigenvalues(model, x, k=10, matrix_free=True)
            out.update(top1=float(top[0]), top10=float(top[-1]))
        else:
            raise ValueError(f"unknown task {task!r}")
        _sync(device)
        out["seconds"] = out.pop("ntk_seconds", None) or time.perf_counter() - t0
    out["peak_bytes"] = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else mem.peak
    out["peak_kind"] = "cuda_max_allocated" if device.type == "cuda" else "rss_increase"
    return out


def _child():  # entry point of an isolated measurement: spec as JSON on stdin, result as JSON on stdout
    spec = json.loads(sys.stdin.read())
    out = _run_case(spec)
    if torch.device(spec.get("device", "cpu")).type == "cpu":
        out["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        out["peak_kind"] = "process_max_rss"
    print("RESULT " + json.dumps(out))


def _measure(spec, isolate, timeout=3600):
    if not isolate:
        return _run_case(spec)
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-c", "from ntkbook.experiments.ntk_speed import _child; _child()"],
                          input=json.dumps(spec), capture_output=True, text=True, timeout=timeout, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark case {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


# ----------------------------------------------------------------------------- the table


def ntk_benchmark(
    profile: str = "ci",
    *,
    sizes=None,
    models=("mlp", "ecrn"),
    methods=METHODS,
    large=True,
    isolate=None,
    time_limit=None,
    device="cpu",
    seed: int = 0,
    verbose: bool = False,
) -> pd.DataFrame:
    """Time the NTK methods and the large-N tasks; one row per measurement.

    Parameters
    ----------
    profile : {"ci", "full"}
        Defaults for the other arguments (see :data:`PROFILES`); "ci" runs in under a minute.
    sizes : sequence of int, optional
        N of the method comparison (default from the profile).
    models : sequence of {"mlp", "ecrn"}
        The networks; "ecrn" is skipped with a note when ``ntkbook.models`` does not import.
    methods : sequence of method names
        The NTK methods compared ("jacobian" is always measured first, as the reference).
    large : bool
        Also run the large-N tasks of the profile (N=10,000 NTK, eigenvalues, matrix-free).
    isolate : bool, optional
        Run each measurement in a fresh process (honest peak memory); default from the profile.
    time_limit : float, optional
        Skip a method whose N^2-extrapolated time exceeds this many seconds (default from the profile).
    device : str
        Where to compute ("cpu" or "cuda"); the result always streams to CPU memory.

    Returns
    -------
    DataFrame with columns model, task, N, method, seconds, peak_MB, speedup_vs_jacobian,
    gram_GFLOPs, matmul_GFLOPs, gram_pct_of_matmul, note; ``df.attrs`` holds the matmul rate,
    the profile and the torch thread count.
    """
    if profile not in PROFILES:
        raise ValueError(f"The 'profile' parameter of ntk_benchmark must be one of {sorted(PROFILES)}. Got {profile!r} instead.")
    prof = PROFILES[profile]
    sizes = tuple(prof["sizes"] if sizes is None else sizes)
    isolate = prof["isolate"] if isolate is None else bool(isolate)
    time_limit = prof["time_limit"] if time_limit is None else float(time_limit)
    methods = ["jacobian"] + [m for m in methods if m != "jacobian"]
    rate = matmul_rate(device=device)
    rows = []

    def log(msg):
        if verbose:
            print(msg, flush=True)

    def row(**kw):
        base = dict(model="", task="ntk", N=0, method="", seconds=np.nan, peak_MB=np.nan, speedup_vs_jacobian=np.nan,
                    gram_GFLOPs=np.nan, matmul_GFLOPs=rate, gram_pct_of_matmul=np.nan, note="")
        base.update(kw)
        rows.append(base)
        log(f"{base['model']:5s} {base['task']:10s} N={base['N']:6d} {base['method']:10s} "
            f"{base['seconds']:9.3f}s {base['peak_MB']:9.1f}MB  {base['note']}")

    def mb(res):
        return res["peak_bytes"] / 2**20

    def large_tasks():
        n = prof["ntk_n"]
        res = _measure(dict(task="ntk", model="ecrn", n=n, method="auto", seed=seed, device=device,
                            rate_per_row=prof["rate_per_row"]), isolate)
        gflops = res["gram_flops"] / res["gram_seconds"] / 1e9 if res["gram_seconds"] > 0 else np.nan
        r_now = res.get("matmul_GFLOPs", rate)
        row(model="ecrn", task="ntk_large", N=n, method="auto", seconds=res["seconds"], peak_MB=mb(res), gram_GFLOPs=gflops,
            matmul_GFLOPs=r_now, gram_pct_of_matmul=100 * gflops / r_now,
            note=f"auto chose {res['method_used']}; block {res['block_size']}")
        n = prof["eig_n"]
        res = _measure(dict(task="eig_formed", model="ecrn", n=n, seed=seed, device=device), isolate)
        row(model="ecrn", task="eig_top10", N=n, method="lanczos", seconds=res["t_lanczos"],
            speedup_vs_jacobian=np.nan,
            note=f"eigsh on formed Theta; {res['t_eigvalsh'] / res['t_lanczos']:.1f}x faster than eigvalsh; "
                 f"max rel diff {res['max_rel_diff']:.1e}")
        row(model="ecrn", task="eig_all", N=n, method="eigvalsh", seconds=res["t_eigvalsh"], peak_MB=mb(res),
            note=f"full spectrum; forming Theta took {res['t_form']:.1f} s; peak is for the whole task")
        n = prof["free_n"]
        res = _measure(dict(task="eig_free", model="ecrn", n=n, seed=seed, device=device), isolate)
        row(model="ecrn", task="eig_free", N=n, method="operator", seconds=res["seconds"], peak_MB=mb(res),
            note=f"matrix-free Lanczos top-10; Theta would take {n * n * 4 / 1e9:.1f} GB")
    late_rows = []
    if large and "ecrn" in models and _has_models():  # run first (the long ones), listed last
        rows_before = len(rows)
        large_tasks()
        late_rows = rows[rows_before:]
        del rows[rows_before:]
    for name in models:
        try:
            bench_model(name, seed)
        except ImportError:
            row(model=name, note="skipped: ntkbook.models is not available")
            continue
        last: dict[str, tuple[int, float]] = {}
        for n in sizes:
            t_jac = np.nan
            for m in methods:
                if m in last and m in ("jacobian", "ntvp"):  # the methods whose time grows as N^2 P
                    n0, t0 = last[m]
                    est = t0 * (n / n0) ** 2
                    if est > time_limit:
                        row(model=name, N=n, method=m, note=f"skipped: estimated {est:.0f} s > {time_limit:.0f} s")
                        last[m] = (n, est)
                        continue
                res = _measure(dict(task="ntk", model=name, n=n, method=m, seed=seed, device=device,
                                    rate_per_row=prof["rate_per_row"]), isolate)
                last[m] = (n, res["seconds"])
                if m == "jacobian":
                    t_jac = res["seconds"]
                gflops = res["gram_flops"] / res["gram_seconds"] / 1e9 if res["gram_seconds"] > 0 else np.nan
                note = f"auto chose {res['method_used']}" if m == "auto" else ""
                r_now = res.get("matmul_GFLOPs", rate)
                row(model=name, N=n, method=m, seconds=res["seconds"], peak_MB=mb(res),
                    speedup_vs_jacobian=t_jac / res["seconds"], gram_GFLOPs=gflops, matmul_GFLOPs=r_now,
                    gram_pct_of_matmul=100 * gflops / r_now, note=note)
    rows.extend(late_rows)
    df = pd.DataFrame(rows)
    df.attrs.update(matmul_GFLOPs=rate, profile=profile, threads=torch.get_num_threads(), device=str(device),
                    peak_memory=("process peak RSS (fresh process per row)" if isolate and device == "cpu"
                                 else "increase of RSS over its value at the start of the row, in one process "
                                      "(memory freed by earlier rows and reused is not counted)" if device == "cpu"
                                 else "torch.cuda.max_memory_allocated"))
    return df


def benchmark_targets(df: pd.DataFrame) -> pd.DataFrame:
    """The issue's targets evaluated on a benchmark table: target, issue_N, N, value, threshold, met.

    A target is judged (``met`` True or False) only where the run used the issue's size
    (``issue_N``); a run at other sizes (the "ci" profile) shows the value with ``met`` None.
    """
    out = []

    def pick(**kw):
        sel = df
        for k, v in kw.items():
            sel = sel[sel[k] == v]
        return sel

    def add(target, issue_n, n, value, threshold, ok):
        out.append((target, issue_n, int(n), value, threshold, bool(ok) if n == issue_n and np.isfinite(value) else None))

    mlp = pick(model="mlp", task="ntk", method="auto").dropna(subset=["speedup_vs_jacobian"])
    if len(mlp):
        n = 1024 if (mlp["N"] == 1024).any() else int(mlp["N"].max())
        v = float(mlp[mlp["N"] == n]["speedup_vs_jacobian"].iloc[0])
        add("auto vs torch.func Jacobian contraction, MLP (x faster)", 1024, n, v, ">= 50", v >= 50)
    gram = df[(df["task"] == "ntk") & (df["method"] == "structured")].dropna(subset=["gram_pct_of_matmul"])
    if len(gram):
        n = int(gram["N"].max())
        v = float(gram[gram["N"] == n]["gram_pct_of_matmul"].min())
        add("Gram products, % of the measured matmul rate (lower of the two models)", 4096, n, v, ">= 40", v >= 40)
    big = pick(model="ecrn", task="ntk_large")
    if len(big):
        v = float(big["peak_MB"].iloc[0]) / 1024
        add("ECRN NTK, peak memory (GB)", 10_000, big["N"].iloc[0], v, "< 4", v < 4)
    eig = pick(task="eig_top10")
    if len(eig):
        v = float(eig["note"].iloc[0].split("; ")[1].split("x")[0])
        add("Lanczos top-10 on the formed Theta vs full eigvalsh (x faster)", 10_000, eig["N"].iloc[0], v, ">= 5", v >= 5)
    free = pick(task="eig_free")
    if len(free):
        v = float(free["peak_MB"].iloc[0]) / 1024
        add("matrix-free top-10 of the ECRN, peak memory (GB)", 50_000, free["N"].iloc[0], v, "< 3", v < 3)
        s_ = float(free["seconds"].iloc[0])
        add("matrix-free top-10 of the ECRN, minutes", 50_000, free["N"].iloc[0], s_ / 60, "minutes, not hours", s_ < 3600)
    return pd.DataFrame(out, columns=["target", "issue_N", "N", "value", "threshold", "met"])
