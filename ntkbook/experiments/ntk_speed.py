"""How fast is ``ntkbook.ntk``? The benchmark behind the appendix "Computing NTKs fast".

``ntk_benchmark(profile)`` times every NTK method of :mod:`ntkbook.ntk` on two networks, a
3-hidden-layer width-512 ReLU MLP and the book's ECRN (width 256, depth 8), both with 16
inputs, one output and NTK parameterization, and returns one row per measurement: seconds
(the best of up to 3 runs after a warm-up on 8 samples), peak memory, speed-up over the
torch.func Jacobian contraction measured in the same run, and the achieved GFLOP/s of the
Gram products against this machine's matmul rate (:func:`matmul_rate`). The "full" profile
adds the large-N tasks: the N = 10,000 NTK of the ECRN, top-10 eigenvalues of a formed
N = 10,000 NTK by Lanczos against a full ``eigvalsh``, and the matrix-free top-10
eigenvalues of the ECRN at N = 50,000. The "ci" profile is the same table at small N and
runs in under a minute.

Peak memory is measured honestly: with ``isolate=True`` (the default for "full") each
measurement runs in a fresh Python process and reports that process's peak resident set size
(``resource.getrusage``, so it includes the interpreter and torch, about 0.3-0.5 GB); with
``isolate=False`` a thread samples the resident set size every few milliseconds and the
increase over the value before the measurement is reported. On a GPU it is
``torch.cuda.max_memory_allocated``.

The steps of :func:`ntk_benchmark`: ``_plan`` checks the arguments and fills in the
profile's defaults; ``_large_n_rows`` runs the large-N tasks; ``_method_rows`` runs the
method comparison of one network; each measurement is one ``_measure`` (in this process or
in a fresh one). :func:`benchmark_targets` then judges the table against the performance
targets the package was built to.

Example::

    >>> from ntkbook.experiments.ntk_speed import ntk_benchmark, benchmark_targets
    >>> table = ntk_benchmark("ci")                     # one row per (model, N, task, method)
    >>> benchmark_targets(table)                        # the performance targets, met or not
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ntkbook._validation import check_bool, check_float, check_ints, check_option, check_seed, fail

__all__ = ["matmul_rate", "bench_model", "ntk_benchmark", "benchmark_targets", "PROFILES", "METHODS", "COLUMNS"]

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
MODELS = ("mlp", "ecrn")
#: An NTK is timed as the best of REPEATS runs after a warm-up on 8 samples; a run longer than
#: REPEAT_BELOW seconds is not repeated.
REPEATS, REPEAT_BELOW = 3, 5.0
#: The columns of the benchmark table, in order.
COLUMNS = ("model", "task", "N", "method", "seconds", "peak_MB", "speedup_vs_jacobian", "gram_GFLOPs",
           "matmul_GFLOPs", "gram_pct_of_matmul", "note")


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


def bench_model(name: str, seed: int = 0) -> nn.Module:
    """The benchmark's networks, both in NTK parameterization with 16 inputs and one output:
    ``"mlp"`` is ``ntkbook.models.MLP(16, 1, width=512, depth=3)`` (ReLU) and ``"ecrn"`` is
    ``ntkbook.models.ECRN(16, 1, width=256, depth=8)``."""
    from ntkbook.models import ECRN, MLP

    check_option(name, "name", "bench_model", MODELS)
    seed = check_seed(seed, "seed", "bench_model")
    if name == "mlp":
        return MLP(16, 1, width=512, depth=3, activation="relu", parameterization="ntk", seed=seed)
    return ECRN(16, 1, width=256, depth=8, seed=seed)


def _inputs(n, seed, device):
    g = torch.Generator().manual_seed(seed + 1)
    return torch.randn(n, 16, generator=g).to(device)  # (n, 16)


# ----------------------------------------------------------------------------- one measurement


def _time_ntk(model, x, spec, device) -> dict:
    """The NTK of ``model`` on ``x`` by ``spec["method"]``: the best of REPEATS runs."""
    from ntkbook.ntk import empirical_ntk

    out: dict = {}
    if spec["method"] in ("structured", "auto") and spec.get("rate_per_row", True):  # the rate now
        out["matmul_GFLOPs"] = matmul_rate(device=device)
    best = None
    for _ in range(REPEATS):
        stats: dict = {}
        _sync(device)
        t0 = time.perf_counter()
        theta = empirical_ntk(model, x, method=spec["method"], stats=stats, out_device="cpu")  # (n, n)
        _sync(device)
        dt = time.perf_counter() - t0
        del theta
        if best is None or dt < best[0]:
            best = (dt, stats)
        if dt > REPEAT_BELOW:
            break
    dt, stats = best
    out.update(method_used=stats["method"], gram_flops=stats["gram_flops"], gram_seconds=stats["gram_seconds"],
               block_size=stats["block_size"], seconds=dt)
    return out


def _eig_formed(model, x, spec, device) -> dict:
    """Form Theta (n, n), then its top-10 eigenvalues by Lanczos and all of them by eigvalsh."""
    from ntkbook.ntk import empirical_ntk, ntk_spectrum

    t0 = time.perf_counter()
    theta = empirical_ntk(model, x, out_device="cpu")  # (n, n)
    t_form = time.perf_counter() - t0
    t1 = time.perf_counter()
    top = ntk_spectrum(theta, 10, solver="lanczos")  # (10,) descending
    t_lanczos = time.perf_counter() - t1
    t1 = time.perf_counter()
    full = torch.linalg.eigvalsh(theta)  # (n,) ascending
    t_eigvalsh = time.perf_counter() - t1
    ref = full.flip(0)[:10]
    return dict(t_form=t_form, t_lanczos=t_lanczos, t_eigvalsh=t_eigvalsh,
                max_rel_diff=float(((top - ref).abs() / ref.abs()).max()), top1=float(top[0]))


def _eig_free(model, x, spec, device) -> dict:
    """The top-10 eigenvalues of Theta without forming it (matrix-free Lanczos)."""
    from ntkbook.ntk import ntk_eigenvalues

    top = ntk_eigenvalues(model, x, k=10, matrix_free=True)
    return dict(top1=float(top[0]), top10=float(top[-1]))


#: The tasks one measurement can run: task name -> function(model, x, spec, device) -> dict.
_TASKS = {"ntk": _time_ntk, "eig_formed": _eig_formed, "eig_free": _eig_free}


def _run_case(spec: dict) -> dict:
    """Run one measurement in this process: spec has task, model, n, method, seed, device."""
    from ntkbook.ntk import empirical_ntk

    task = check_option(spec["task"], "task", "_run_case", _TASKS)
    device = torch.device(spec.get("device", "cpu"))
    model = bench_model(spec["model"], spec.get("seed", 0)).to(device)
    x = _inputs(spec["n"], spec.get("seed", 0), device)  # (n, 16)
    if task == "ntk":  # warm-up on 8 samples: thread pools and first-call set-up stay out of the timing
        empirical_ntk(model, x[:8], method=spec["method"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with _PeakRSS() as mem:
        _sync(device)
        t0 = time.perf_counter()
        out = _TASKS[task](model, x, spec, device)
        _sync(device)
        out.setdefault("seconds", time.perf_counter() - t0)
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
    """One measurement: in this process, or (``isolate``) in a fresh Python process."""
    if not isolate:
        return _run_case(spec)
    proc = subprocess.run([sys.executable, "-c", "from ntkbook.experiments.ntk_speed import _child; _child()"],
                          input=json.dumps(spec), capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark case {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class _Plan:
    """What one call of :func:`ntk_benchmark` measures: the profile's defaults and the arguments."""

    profile: str
    sizes: tuple[int, ...]  # N of the method comparison
    models: tuple[str, ...]
    methods: tuple[str, ...]  # "jacobian" first: the reference of every speed-up
    large: bool  # also the large-N tasks (ECRN only)
    isolate: bool  # a fresh process per measurement (honest peak memory, slower)
    time_limit: float  # skip a method whose N^2-extrapolated time exceeds this (seconds)
    device: str
    seed: int
    rate_per_row: bool  # measure the matmul rate again before each Gram-product row
    ntk_n: int  # N of the large NTK
    eig_n: int  # N of the formed NTK whose eigenvalues are computed
    free_n: int  # N of the matrix-free eigenvalues

    def spec(self, **kw) -> dict:
        """The spec of one measurement (see :func:`_run_case`)."""
        return dict(seed=self.seed, device=self.device, **kw)


def _plan(profile, sizes, models, methods, large, isolate, time_limit, device, seed) -> _Plan:
    """Check the arguments of :func:`ntk_benchmark` and fill in the profile's defaults."""
    owner = "ntk_benchmark"
    prof = PROFILES[check_option(profile, "profile", owner, PROFILES)]
    sizes = tuple(check_ints(prof["sizes"] if sizes is None else sizes, "sizes", owner))
    allowed = f"a non-empty sequence drawn from {list(MODELS)}"
    if isinstance(models, str) or not models or any(m not in MODELS for m in models):
        fail("models", owner, allowed, models)
    if isinstance(methods, str) or not methods or any(m not in METHODS for m in methods):
        fail("methods", owner, f"a non-empty sequence drawn from {list(METHODS)}", methods)
    isolate = prof["isolate"] if isolate is None else check_bool(isolate, "isolate", owner)
    time_limit = prof["time_limit"] if time_limit is None else check_float(time_limit, "time_limit", owner, 0.0,
                                                                             low_open=True)
    return _Plan(profile=profile, sizes=sizes, models=tuple(dict.fromkeys(models)),
                 methods=("jacobian",) + tuple(m for m in dict.fromkeys(methods) if m != "jacobian"),
                 large=check_bool(large, "large", owner), isolate=isolate, time_limit=time_limit,
                 device=str(device), seed=check_seed(seed, "seed", owner), rate_per_row=prof["rate_per_row"],
                 ntk_n=prof["ntk_n"], eig_n=prof["eig_n"], free_n=prof["free_n"])


class _Table:
    """The rows of the benchmark table in the order they are added, each with every column;
    ``verbose`` prints each row as it comes."""

    def __init__(self, rate: float, verbose: bool):
        self.rate, self.verbose, self.rows = rate, verbose, []

    def add(self, **kw) -> None:
        row = dict(model="", task="ntk", N=0, method="", seconds=np.nan, peak_MB=np.nan, speedup_vs_jacobian=np.nan,
                   gram_GFLOPs=np.nan, matmul_GFLOPs=self.rate, gram_pct_of_matmul=np.nan, note="")
        row.update(kw)
        self.rows.append(row)
        if self.verbose:
            print(f"{row['model']:5s} {row['task']:10s} N={row['N']:6d} {row['method']:10s} "
                  f"{row['seconds']:9.3f}s {row['peak_MB']:9.1f}MB  {row['note']}", flush=True)


def _mb(res) -> float:
    return res["peak_bytes"] / 2**20


def _gram_columns(res, rate) -> dict:
    """The Gram-product columns of an NTK measurement: achieved GFLOP/s against the matmul rate."""
    gflops = res["gram_flops"] / res["gram_seconds"] / 1e9 if res["gram_seconds"] > 0 else np.nan
    r_now = res.get("matmul_GFLOPs", rate)
    return dict(gram_GFLOPs=gflops, matmul_GFLOPs=r_now, gram_pct_of_matmul=100 * gflops / r_now)


def _large_n_rows(plan: _Plan, table: _Table) -> None:
    """The large-N tasks of the ECRN: one large NTK, the eigenvalues of a formed NTK (Lanczos
    against eigvalsh) and matrix-free eigenvalues at a size whose Theta would not fit."""
    n = plan.ntk_n
    res = _measure(plan.spec(task="ntk", model="ecrn", n=n, method="auto", rate_per_row=plan.rate_per_row),
                   plan.isolate)
    table.add(model="ecrn", task="ntk_large", N=n, method="auto", seconds=res["seconds"], peak_MB=_mb(res),
              **_gram_columns(res, table.rate), note=f"auto chose {res['method_used']}; block {res['block_size']}")
    n = plan.eig_n
    res = _measure(plan.spec(task="eig_formed", model="ecrn", n=n), plan.isolate)
    table.add(model="ecrn", task="eig_top10", N=n, method="lanczos", seconds=res["t_lanczos"],
              note=f"eigsh on formed Theta; {res['t_eigvalsh'] / res['t_lanczos']:.1f}x faster than eigvalsh; "
                   f"max rel diff {res['max_rel_diff']:.1e}")
    table.add(model="ecrn", task="eig_all", N=n, method="eigvalsh", seconds=res["t_eigvalsh"], peak_MB=_mb(res),
              note=f"full spectrum; forming Theta took {res['t_form']:.1f} s; peak is for the whole task")
    n = plan.free_n
    res = _measure(plan.spec(task="eig_free", model="ecrn", n=n), plan.isolate)
    table.add(model="ecrn", task="eig_free", N=n, method="operator", seconds=res["seconds"], peak_MB=_mb(res),
              note=f"matrix-free Lanczos top-10; Theta would take {n * n * 4 / 1e9:.1f} GB")


def _method_rows(plan: _Plan, name: str, table: _Table) -> None:
    """The method comparison of one network: every method at every size, "jacobian" first.

    A method whose time grows as N^2 P (jacobian, ntvp) is skipped at a size where its time,
    extrapolated as N^2 from the previous size, exceeds ``plan.time_limit``; the row says so.
    """
    last: dict[str, tuple[int, float]] = {}  # method -> (N, seconds) of its latest size
    for n in plan.sizes:
        t_jac = np.nan
        for m in plan.methods:
            if m in last and m in ("jacobian", "ntvp"):
                n0, t0 = last[m]
                est = t0 * (n / n0) ** 2
                if est > plan.time_limit:
                    table.add(model=name, N=n, method=m, note=f"skipped: estimated {est:.0f} s > {plan.time_limit:.0f} s")
                    last[m] = (n, est)
                    continue
            res = _measure(plan.spec(task="ntk", model=name, n=n, method=m, rate_per_row=plan.rate_per_row),
                           plan.isolate)
            last[m] = (n, res["seconds"])
            if m == "jacobian":
                t_jac = res["seconds"]
            table.add(model=name, N=n, method=m, seconds=res["seconds"], peak_MB=_mb(res),
                      speedup_vs_jacobian=t_jac / res["seconds"], **_gram_columns(res, table.rate),
                      note=f"auto chose {res['method_used']}" if m == "auto" else "")


def _peak_memory_note(plan: _Plan) -> str:
    if plan.device != "cpu":
        return "torch.cuda.max_memory_allocated"
    if plan.isolate:
        return "process peak RSS (fresh process per row)"
    return ("increase of RSS over its value at the start of the row, in one process "
            "(memory freed by earlier rows and reused is not counted)")


def ntk_benchmark(
    profile: str = "ci",
    *,
    sizes=None,
    models=MODELS,
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
        The networks (see :func:`bench_model`).
    methods : sequence of method names
        The NTK methods compared ("jacobian" is always measured first, as the reference).
    large : bool
        Also run the large-N tasks of the profile (N=10,000 NTK, eigenvalues, matrix-free);
        they need "ecrn" among ``models``.
    isolate : bool, optional
        Run each measurement in a fresh process (honest peak memory); default from the profile.
    time_limit : float, optional
        Skip a method whose N^2-extrapolated time exceeds this many seconds (default from the profile).
    device : str
        Where to compute ("cpu" or "cuda"); the result always streams to CPU memory.

    Returns
    -------
    DataFrame with the columns of :data:`COLUMNS` (model, task, N, method, seconds, peak_MB,
    speedup_vs_jacobian, gram_GFLOPs, matmul_GFLOPs, gram_pct_of_matmul, note); ``df.attrs``
    holds the matmul rate, the profile, the torch thread count and what peak memory means.
    """
    plan = _plan(profile, sizes, models, methods, large, isolate, time_limit, device, seed)
    check_bool(verbose, "verbose", "ntk_benchmark")
    rate = matmul_rate(device=plan.device)
    comparison, large_n = _Table(rate, verbose), _Table(rate, verbose)
    if plan.large and "ecrn" in plan.models:  # run first (the long ones), listed last
        _large_n_rows(plan, large_n)
    for name in plan.models:
        _method_rows(plan, name, comparison)
    df = pd.DataFrame(comparison.rows + large_n.rows, columns=list(COLUMNS))
    df.attrs.update(matmul_GFLOPs=rate, profile=plan.profile, threads=torch.get_num_threads(), device=plan.device,
                    peak_memory=_peak_memory_note(plan))
    return df


# ----------------------------------------------------------------------------- the targets


def benchmark_targets(df: pd.DataFrame) -> pd.DataFrame:
    """The performance targets the package was built to, evaluated on a benchmark table.

    Returns columns target, target_N, N, value, threshold, met. A target is judged (``met``
    True or False) only where the run used the size the target is stated for (``target_N``);
    a run at other sizes (the "ci" profile) shows the value with ``met`` None.
    """
    out = []

    def pick(**kw):
        sel = df
        for k, v in kw.items():
            sel = sel[sel[k] == v]
        return sel

    def add(target, target_n, n, value, threshold, ok):
        met = bool(ok) if n == target_n and np.isfinite(value) else None
        out.append((target, target_n, int(n), value, threshold, met))

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
    return pd.DataFrame(out, columns=["target", "target_N", "N", "value", "threshold", "met"])
