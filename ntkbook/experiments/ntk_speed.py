"""How fast is ``ntkbook.ntk``? The benchmark behind the appendix "Computing NTKs fast".

``ntk_benchmark(profile)`` has two parts. The *architecture comparison* times ``auto`` against the
plain torch.func Jacobian contraction of the PyTorch NTK tutorial (:func:`torchfunc_ntk`) on the
networks of :data:`ARCHITECTURES`: MLPs written with ``nn.Linear`` and with custom dense modules, a
CNN written with ``F.conv2d`` on free parameters, two Transformer encoders and a weight-normalized
MLP that has no structured rule at all; each row also says where ``auto``'s time went (probe,
recording, Jacobians, Gram products, per-sample contraction). The *method comparison* times
every NTK method of :mod:`ntkbook.ntk` on two networks, a
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

from ntkbook._validation import check_bool, check_float, check_int, check_ints, check_option, check_seed, fail

__all__ = ["matmul_rate", "bench_model", "bench_architecture", "torchfunc_ntk", "ntk_benchmark", "benchmark_targets",
           "PROFILES", "METHODS", "ARCHITECTURES", "COLUMNS"]

#: What each profile measures. ``sizes``: N of the method comparison; ``time_limit``: a method
#: whose time, extrapolated as N^2 from the previous size, exceeds this many seconds is skipped
#: (and the table says so); the ``*_n`` entries are the sizes of the large-N tasks; ``rate_per_row``:
#: measure the matmul rate again right before each Gram-product row (the machine may be shared).
PROFILES = {
    "ci": dict(sizes=(64, 128), time_limit=5.0, ntk_n=1000, eig_n=800, free_n=1000, isolate=False, rate_per_row=False,
               arch_n=64),
    "full": dict(sizes=(256, 1024, 4096), time_limit=600.0, ntk_n=10_000, eig_n=10_000, free_n=50_000, isolate=True,
                 rate_per_row=True, arch_n=None),
}
#: The architecture comparison: name -> (N of the "full" profile, the speed-up of ``auto`` over
#: :func:`torchfunc_ntk` the package was built to reach at that N, what the network is). The "ci"
#: profile runs every one at N = 64 (``arch_n``). See :func:`bench_architecture`.
ARCHITECTURES = {
    "mlp_custom": (1024, 50.0, "3x512 ReLU MLP of custom dense modules, c * x @ w.T + 0.1 * b"),
    "mlp_linear": (1024, 65.0, "the same MLP with nn.Linear"),
    "cnn": (256, 1.5, "conv 3->64, conv 64->64 stride 2, dense -> 10 (F.conv2d on free parameters), 10 outputs"),
    "transformer": (256, 2.0, "2-layer pre-norm Transformer encoder, d_model 256, 4 heads, 8 tokens"),
    "transformer16": (256, 1.0, "2-layer encoder, d_model 128, 16 tokens: Gram products cost more there"),
    "norule": (512, 1.0, "3x256 weight-normalized MLP: no rule, the Jacobian fallback"),
}
#: The methods of the architecture comparison: the reference first.
ARCH_METHODS = ("torch.func", "jacobian", "auto")
#: Where ``auto``'s time goes, from the ``stats`` of :func:`ntkbook.ntk.empirical_ntk`: column -> stats key.
#: The clocks of a measurement: "wall" (time.perf_counter), or "cpu" (time.process_time, with one
#: thread: the time a measurement would take on an idle core, for a machine shared with other work).
CLOCKS = ("wall", "cpu")
TIME_SPLIT = {"probe_s": "probe_seconds", "capture_s": "capture_seconds", "jacobian_s": "jacobian_seconds",
              "gram_s": "gram_seconds", "persample_s": "persample_seconds"}
METHODS = ("jacobian", "ntvp", "structured", "auto")
MODELS = ("mlp", "ecrn")
#: An NTK is timed as the best of REPEATS runs after a warm-up on 8 samples; a run longer than
#: REPEAT_BELOW seconds is not repeated.
REPEATS, REPEAT_BELOW = 3, 5.0
#: The columns of the benchmark table, in order.
COLUMNS = ("model", "task", "N", "method", "seconds", "peak_MB", "speedup_vs_jacobian", "speedup_vs_torchfunc",
           "gram_GFLOPs", "matmul_GFLOPs", "gram_pct_of_matmul", *TIME_SPLIT, "note")


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


def _clock(spec):
    """The clock of a measurement: wall time, or (``clock="cpu"``) the CPU time of this process."""
    return time.process_time if spec.get("clock") == "cpu" else time.perf_counter


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


# ----------------------------------------------------------------------------- the architectures


class _CustomDense(nn.Module):
    """y = c x W^T + 0.1 b with c = 1 / sqrt(d_in): a dense layer as people write their own (issue 15)."""

    def __init__(self, d_in, d_out, generator):
        super().__init__()
        self.w = nn.Parameter(torch.randn(d_out, d_in, generator=generator))
        self.b = nn.Parameter(torch.randn(d_out, generator=generator))
        self.c = 1.0 / math.sqrt(d_in)

    def forward(self, x):
        return self.c * x @ self.w.T + 0.1 * self.b


class _WeightNormDense(nn.Module):
    """y = x (g v / ||v||)^T, weight normalization (Salimans and Kingma 2016): the weight is computed from two
    parameters through a norm, which no structured rule covers."""

    def __init__(self, d_in, d_out, generator):
        super().__init__()
        self.v = nn.Parameter(torch.randn(d_out, d_in, generator=generator))
        self.g = nn.Parameter(torch.ones(d_out) * math.sqrt(2.0))

    def forward(self, x):
        return nn.functional.linear(x, self.g[:, None] * self.v / self.v.norm(dim=1, keepdim=True))


def _mlp(layer, widths, generator):
    """ReLU between the layers ``layer(d_in, d_out, generator)`` of the given widths."""
    mods = []
    for a, b in zip(widths[:-1], widths[1:]):
        mods += [layer(a, b, generator), nn.ReLU()]
    return nn.Sequential(*mods[:-1])


class _ConvNet(nn.Module):
    """conv 3->64 (3x3, padding 1), conv 64->64 (3x3, stride 2, padding 1), dense -> 10 with ReLUs, on 16x16x3
    inputs, written with F.conv2d and F.linear on free parameters (He-normal weights)."""

    def __init__(self, generator):
        super().__init__()
        g = generator
        self.w1 = nn.Parameter(torch.randn(64, 3, 3, 3, generator=g) * math.sqrt(2 / 27))
        self.b1 = nn.Parameter(torch.zeros(64))
        self.w2 = nn.Parameter(torch.randn(64, 64, 3, 3, generator=g) * math.sqrt(2 / 576))
        self.b2 = nn.Parameter(torch.zeros(64))
        self.w3 = nn.Parameter(torch.randn(10, 64 * 8 * 8, generator=g) / 64)
        self.b3 = nn.Parameter(torch.zeros(10))

    def forward(self, x):  # (n, 3, 16, 16)
        F = nn.functional
        h = F.relu(F.conv2d(x, self.w1, self.b1, padding=1))  # (n, 64, 16, 16)
        h = F.relu(F.conv2d(h, self.w2, self.b2, stride=2, padding=1))  # (n, 64, 8, 8)
        return F.linear(h.flatten(1), self.w3, self.b3)  # (n, 10)


class _Block(nn.Module):
    """A pre-norm Transformer block in the style of nanoGPT: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d, heads, d_ff):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, d_ff), nn.Linear(d_ff, d)
        self.heads = heads

    def forward(self, x):  # (b, T, d)
        b, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (t.view(b, T, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))  # (b, nh, T, hs)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)  # (b, nh, T, T)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, T, d))
        return x + self.out(nn.functional.gelu(self.fc(self.ln2(x))))


class _Encoder(nn.Module):
    """Linear embedding of 16 features per token, pre-norm blocks, a final LayerNorm, mean over tokens, one output."""

    def __init__(self, d, heads, depth):
        super().__init__()
        self.embed = nn.Linear(16, d)
        self.blocks = nn.ModuleList(_Block(d, heads, 4 * d) for _ in range(depth))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, 1)

    def forward(self, x):  # (b, T, 16)
        h = self.embed(x)
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.ln(h).mean(1))  # (b, 1)


def bench_architecture(name: str, seed: int = 0):
    """A network of :data:`ARCHITECTURES` and the shape of one input: (model in eval mode, per-sample shape)."""
    check_option(name, "name", "bench_architecture", ARCHITECTURES)
    seed = check_seed(seed, "seed", "bench_architecture")
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # nn.Linear and nn.LayerNorm draw from the global generator
        torch.manual_seed(seed)
        if name == "mlp_custom":
            model, shape = _mlp(_CustomDense, [16, 512, 512, 512, 1], g), (16,)
        elif name == "mlp_linear":
            model, shape = _mlp(lambda a, b, g: nn.Linear(a, b), [16, 512, 512, 512, 1], g), (16,)
        elif name == "cnn":
            model, shape = _ConvNet(g), (3, 16, 16)
        elif name == "transformer":
            model, shape = _Encoder(256, 4, 2), (8, 16)
        elif name == "transformer16":
            model, shape = _Encoder(128, 4, 2), (16, 16)
        else:
            model, shape = _mlp(_WeightNormDense, [16, 256, 256, 256, 1], g), (16,)
    return model.eval(), shape


def torchfunc_ntk(model, x1, x2=None, *, block=256):
    """The NTK by plain torch.func, as in the PyTorch NTK tutorial ("Jacobian contraction"), traced over outputs.

    Per-sample Jacobians of x1 and of x2 with ``vmap(jacrev)``, flattened per parameter and contracted
    with ``einsum('Naf,Maf->NM')`` parameter by parameter. The only change from the tutorial: x1 is
    taken ``block`` rows at a time, so that memory stays bounded; nothing else is saved (x2 = x1 gets
    its Jacobians twice and the whole N x N contraction, as the tutorial's code does).
    """
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}

    def fnet_single(p, x):  # one sample -> (O,)
        return functional_call(model, p, (x.unsqueeze(0),)).reshape(-1)

    def jac(x):
        return [j.flatten(2) for j in vmap(jacrev(fnet_single), (None, 0))(params, x).values()]  # (n, O, P_k)

    x2 = x1 if x2 is None else x2
    j2 = jac(x2)
    rows = []
    for s in range(0, x1.shape[0], block):
        j1 = jac(x1[s:s + block])
        rows.append(torch.stack([torch.einsum("Naf,Maf->NM", a, b) for a, b in zip(j1, j2)]).sum(0))
        del j1
    return torch.cat(rows)


# ----------------------------------------------------------------------------- one measurement


def _time_ntk(model, x, spec, device) -> dict:
    """The NTK of ``model`` on ``x`` by ``spec["method"]``: the best of REPEATS runs."""
    from ntkbook.ntk import empirical_ntk

    out: dict = {}
    if spec["method"] in ("structured", "auto") and spec.get("rate_per_row", True):  # the rate now
        out["matmul_GFLOPs"] = matmul_rate(device=device)
    dt, stats = _best_of(spec, device, lambda stats: empirical_ntk(model, x, method=spec["method"], stats=stats,
                                                                   out_device="cpu"))  # (n, n)
    out.update(method_used=stats["method"], gram_flops=stats["gram_flops"], gram_seconds=stats["gram_seconds"],
               block_size=stats["block_size"], seconds=dt)
    return out


def _best_of(spec, device, compute) -> tuple[float, dict]:
    """The shortest of up to REPEATS runs of ``compute(stats)`` (stopping once one takes over
    REPEAT_BELOW seconds), on the clock ``spec`` asks for, with the ``stats`` of that run."""
    clock = _clock(spec)
    best = None
    for _ in range(REPEATS):
        stats: dict = {}
        _sync(device)
        t0 = clock()
        result = compute(stats)
        _sync(device)
        dt = clock() - t0
        del result
        if best is None or dt < best[0]:
            best = (dt, stats)
        if dt > REPEAT_BELOW:
            break
    return best


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


def _time_arch(model, x, spec, device) -> dict:
    """One row of the architecture comparison: the best of REPEATS runs of torch.func or of an ntkbook method."""
    from ntkbook.ntk import empirical_ntk

    if spec["method"] == "torch.func":
        dt, stats = _best_of(spec, device, lambda stats: torchfunc_ntk(model, x))
    else:
        dt, stats = _best_of(spec, device, lambda stats: empirical_ntk(model, x, method=spec["method"], stats=stats,
                                                                       out_device="cpu"))  # (n, n)
    out = dict(seconds=dt, method_used=stats.get("method", spec["method"]), gram_flops=stats.get("gram_flops", 0),
               gram_seconds=stats.get("gram_seconds", 0.0), fallback=len(stats.get("fallback_params", [])),
               groups=len(stats.get("rules", [])),
               strategies=sorted({r["strategy"] for r in stats.get("rules", [])}))
    out.update({col: stats.get(key, np.nan) for col, key in TIME_SPLIT.items()})
    return out


#: The tasks one measurement can run: task name -> function(model, x, spec, device) -> dict.
_TASKS = {"ntk": _time_ntk, "eig_formed": _eig_formed, "eig_free": _eig_free, "arch": _time_arch}


def _run_case(spec: dict) -> dict:
    """Run one measurement in this process: spec has task, model, n, method, seed, device."""
    from ntkbook.ntk import empirical_ntk

    task = check_option(spec["task"], "task", "_run_case", _TASKS)
    device = torch.device(spec.get("device", "cpu"))
    seed = spec.get("seed", 0)
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    if task == "arch":
        model, shape = bench_architecture(spec["model"], seed)
        model = model.to(device)
        g = torch.Generator().manual_seed(seed + 1)
        x = torch.randn(spec["n"], *shape, generator=g).to(device)  # (n, *shape)
    else:
        model = bench_model(spec["model"], seed).to(device)
        x = _inputs(spec["n"], seed, device)  # (n, 16)
    if task == "ntk" or (task == "arch" and spec["method"] != "torch.func"):  # warm-up: set-up stays out of the timing
        empirical_ntk(model, x[:8], method=spec["method"])
    elif task == "arch":
        torchfunc_ntk(model, x[:8])
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
    architectures: tuple[str, ...]  # the networks of the architecture comparison
    arch_n: int | None  # N of every architecture row; None: each at the N of ARCHITECTURES
    threads: int | None  # torch threads of every measurement; None: torch's default
    clock: str  # "wall" or "cpu" (CPU seconds of the measuring process)
    ntk_n: int  # N of the large NTK
    eig_n: int  # N of the formed NTK whose eigenvalues are computed
    free_n: int  # N of the matrix-free eigenvalues

    def spec(self, **kw) -> dict:
        """The spec of one measurement (see :func:`_run_case`)."""
        return dict(seed=self.seed, device=self.device, threads=self.threads, clock=self.clock, **kw)


def _plan(profile, sizes, models, methods, large, isolate, time_limit, device, seed, architectures, threads,
          clock) -> _Plan:
    """Check the arguments of :func:`ntk_benchmark` and fill in the profile's defaults."""
    owner = "ntk_benchmark"
    prof = PROFILES[check_option(profile, "profile", owner, PROFILES)]
    sizes = tuple(check_ints(prof["sizes"] if sizes is None else sizes, "sizes", owner))
    allowed = f"a non-empty sequence drawn from {list(MODELS)}"
    if isinstance(models, str) or not models or any(m not in MODELS for m in models):
        fail("models", owner, allowed, models)
    if isinstance(methods, str) or not methods or any(m not in METHODS for m in methods):
        fail("methods", owner, f"a non-empty sequence drawn from {list(METHODS)}", methods)
    if isinstance(architectures, str) or any(a not in ARCHITECTURES for a in architectures):
        fail("architectures", owner, f"a sequence drawn from {list(ARCHITECTURES)}", architectures)
    isolate = prof["isolate"] if isolate is None else check_bool(isolate, "isolate", owner)
    time_limit = prof["time_limit"] if time_limit is None else check_float(time_limit, "time_limit", owner, 0.0,
                                                                             low_open=True)
    return _Plan(profile=profile, sizes=sizes, models=tuple(dict.fromkeys(models)),
                 methods=("jacobian",) + tuple(m for m in dict.fromkeys(methods) if m != "jacobian"),
                 large=check_bool(large, "large", owner), isolate=isolate, time_limit=time_limit,
                 device=str(device), seed=check_seed(seed, "seed", owner), rate_per_row=prof["rate_per_row"],
                 architectures=tuple(dict.fromkeys(architectures)), arch_n=prof["arch_n"],
                 threads=None if threads is None else check_int(threads, "threads", owner, low=1),
                 clock=_check_clock(clock, threads, device, owner),
                 ntk_n=prof["ntk_n"], eig_n=prof["eig_n"], free_n=prof["free_n"])


def _check_clock(clock, threads, device, owner):
    check_option(clock, "clock", owner, CLOCKS)
    if clock == "cpu" and (threads != 1 or torch.device(device).type != "cpu"):
        fail("clock", owner, "'wall', or 'cpu' with threads=1 on device 'cpu' (the CPU time of one thread is then "
                             "the wall time it would take on an idle core)", clock)
    return clock


class _Table:
    """The rows of the benchmark table in the order they are added, each with every column;
    ``verbose`` prints each row as it comes."""

    def __init__(self, rate: float, verbose: bool):
        self.rate, self.verbose, self.rows = rate, verbose, []

    def add(self, **kw) -> None:
        row = dict(model="", task="ntk", N=0, method="", seconds=np.nan, peak_MB=np.nan, speedup_vs_jacobian=np.nan,
                   speedup_vs_torchfunc=np.nan, gram_GFLOPs=np.nan, matmul_GFLOPs=self.rate, gram_pct_of_matmul=np.nan,
                   **dict.fromkeys(TIME_SPLIT, np.nan), note="")
        row.update(kw)
        self.rows.append(row)
        if self.verbose:
            print(f"{row['model']:13s} {row['task']:10s} N={row['N']:6d} {row['method']:10s} "
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


def _arch_rows(plan: _Plan, table: _Table) -> None:
    """The architecture comparison: torch.func (the reference of speedup_vs_torchfunc), ntkbook's
    Jacobian contraction (the reference of speedup_vs_jacobian) and ``auto``, each network at its N."""
    for name in plan.architectures:
        n = plan.arch_n or ARCHITECTURES[name][0]
        ref = {}
        for m in ARCH_METHODS:
            res = _measure(plan.spec(task="arch", model=name, n=n, method=m), plan.isolate)
            ref[m] = res["seconds"]
            if m == "torch.func":
                note = "plain torch.func (PyTorch tutorial)"
            elif m == "auto":
                note = (f"auto chose {res['method_used']}; {res['groups']} groups "
                        f"({'/'.join(res['strategies']) or '-'}), {res['fallback']} fallback parameters")
            else:
                note = ""
            split = {c: res[c] for c in TIME_SPLIT}
            gram = _gram_columns(res, table.rate) if res["gram_seconds"] > 0 else {}
            table.add(model=name, task="arch", N=n, method=m, seconds=res["seconds"], peak_MB=_mb(res),
                      speedup_vs_torchfunc=ref["torch.func"] / res["seconds"],
                      speedup_vs_jacobian=ref["jacobian"] / res["seconds"] if "jacobian" in ref else np.nan,
                      **gram, **split, note=note)


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
    architectures=tuple(ARCHITECTURES),
    threads: int | None = None,
    clock: str = "wall",
) -> pd.DataFrame:
    """Time ``auto`` against torch.func on the architectures, the NTK methods and the large-N tasks; one row
    per measurement.

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
    architectures : sequence of names of :data:`ARCHITECTURES`
        The networks of the architecture comparison (task "arch": methods torch.func, jacobian and
        auto); empty to skip it.
    threads : int, optional
        torch threads of every measurement (reference and methods alike); default torch's own.
        On a shared machine one thread gives the steadier ratios: with more threads than free
        cores, every parallel region waits for a descheduled thread, which slows many small
        operations far more than a few large ones.
    clock : {"wall", "cpu"}
        What "seconds" measures: wall time (default), or with ``threads=1`` the CPU seconds of the
        measuring process, the time it would take on an idle core (the phases of "auto" stay in
        wall time).

    Returns
    -------
    DataFrame with the columns of :data:`COLUMNS` (model, task, N, method, seconds, peak_MB,
    speedup_vs_jacobian, speedup_vs_torchfunc, gram_GFLOPs, matmul_GFLOPs, gram_pct_of_matmul,
    the seconds of each phase of the structured method (probe_s, capture_s, jacobian_s, gram_s,
    persample_s) and note); ``df.attrs`` holds the matmul rate, the profile, the torch thread count
    and what peak memory means.
    """
    plan = _plan(profile, sizes, models, methods, large, isolate, time_limit, device, seed, architectures, threads,
                 clock)
    check_bool(verbose, "verbose", "ntk_benchmark")
    before = torch.get_num_threads()
    if plan.threads:
        torch.set_num_threads(plan.threads)
    try:
        return _run_plan(plan, verbose)
    finally:
        torch.set_num_threads(before)


def _run_plan(plan: _Plan, verbose: bool) -> pd.DataFrame:
    rate = matmul_rate(device=plan.device)
    arch, comparison, large_n = _Table(rate, verbose), _Table(rate, verbose), _Table(rate, verbose)
    _arch_rows(plan, arch)
    if plan.large and "ecrn" in plan.models:  # run first (the long ones), listed last
        _large_n_rows(plan, large_n)
    for name in plan.models:
        _method_rows(plan, name, comparison)
    df = pd.DataFrame(arch.rows + comparison.rows + large_n.rows, columns=list(COLUMNS))
    df.attrs.update(matmul_GFLOPs=rate, profile=plan.profile, threads=torch.get_num_threads(), device=plan.device,
                    peak_memory=_peak_memory_note(plan), clock=plan.clock)
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

    for name, (target_n, threshold, what) in ARCHITECTURES.items():
        row = pick(model=name, task="arch", method="auto")
        if len(row):
            v = float(row["speedup_vs_torchfunc"].iloc[0])
            add(f"auto vs torch.func, {what} (x faster)", target_n, row["N"].iloc[0], v, f">= {threshold:g}",
                v >= threshold)
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
