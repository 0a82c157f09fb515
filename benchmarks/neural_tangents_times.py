"""Time neural-tangents' three empirical-NTK implementations on the benchmark's networks.

A JAX program, run by an interpreter that has ``jax`` and ``neural-tangents`` (an optional
comparison, never needed by the book, the package or CI)::

    /path/to/jax-venv/bin/python benchmarks/neural_tangents_times.py --sizes mlp=1024 cnn=256

neural-tangents 0.6.5 (its last release, December 2023) runs with the JAX of its time; a
virtual environment where it works (tried on Python 3.11, CPU)::

    python3 -m venv jax-venv
    jax-venv/bin/pip install neural-tangents==0.6.5 "jax==0.4.23" "jaxlib==0.4.23" "tf2jax==0.3.6" \
        "numpy<2" "ml_dtypes>=0.5,<0.6"

(newer JAX releases removed ``jax.core.Jaxpr`` and internals of ``jax.interpreters.ad`` that
its structured-derivatives implementation uses).

It prints one JSON object: for each network and each of neural-tangents' implementations
(``JACOBIAN_CONTRACTION``, ``NTK_VECTOR_PRODUCTS``, ``STRUCTURED_DERIVATIVES``), the best of
three timed calls after a compiling warm-up, in seconds, with the trace over outputs as in
``ntkbook``'s table, computed in blocks of ``--batch`` x ``--batch`` pairs (``nt.batch``). The networks are the same architectures as ``ARCHITECTURES`` in
``ntkbook.experiments.ntk_speed``, written with ``neural_tangents.stax``:

* ``mlp``: 16 -> 512 -> 512 -> 512 -> 1, ReLU, NTK parameterization;
* ``cnn``: conv 3->64 (3x3, SAME), conv 64->64 (3x3, stride 2, SAME), dense -> 10, ReLU, on
  16x16x3 inputs (NHWC here, NCHW in torch: the same network).

``benchmarks/ntk_benchmark.py --neural-tangents PYTHON`` runs this script with PYTHON and
prints its times beside ``ntkbook``'s, as ratios to torch.func's Jacobian contraction in the
same run. The weights differ from torch's (the cost of an NTK does not depend on them).
"""

import argparse
import json
import os
import time


def _networks():
    from neural_tangents import stax

    mlp = stax.serial(stax.Dense(512), stax.Relu(), stax.Dense(512), stax.Relu(), stax.Dense(512), stax.Relu(),
                      stax.Dense(1))
    cnn = stax.serial(stax.Conv(64, (3, 3), padding="SAME"), stax.Relu(),
                      stax.Conv(64, (3, 3), strides=(2, 2), padding="SAME"), stax.Relu(),
                      stax.Flatten(), stax.Dense(10))
    return {"mlp": (mlp, (16,)), "cnn": (cnn, (16, 16, 3))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["mlp=1024", "cnn=256"], help="NETWORK=N pairs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=128, help="rows and columns of a block (must divide each N)")
    a = p.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import neural_tangents as nt

    sizes = dict(item.split("=") for item in a.sizes)
    implementations = {"JACOBIAN_CONTRACTION": nt.NtkImplementation.JACOBIAN_CONTRACTION,
                       "NTK_VECTOR_PRODUCTS": nt.NtkImplementation.NTK_VECTOR_PRODUCTS,
                       "STRUCTURED_DERIVATIVES": nt.NtkImplementation.STRUCTURED_DERIVATIVES}
    out = {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()], "seconds": {}}
    key = jax.random.PRNGKey(0)
    for name, (net, shape) in _networks().items():
        if name not in sizes:
            continue
        n = int(sizes[name])
        init_fn, apply_fn, _ = net
        x = jax.random.normal(key, (n, *shape))
        _, params = init_fn(key, x.shape)
        out["seconds"][name] = {"N": n}
        for label, impl in implementations.items():
            # blocks of a.batch x a.batch pairs (nt.batch), as ours are blocked: unblocked, the
            # Jacobian contraction of the MLP at N = 1024 asks for 86 GB
            fn = nt.batch(jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=impl)),
                          batch_size=min(a.batch, n), store_on_device=False)
            fn(x, None, params).block_until_ready()  # compile (a warm-up at this size)
            best = float("inf")
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                fn(x, None, params).block_until_ready()  # (N, N)
                best = min(best, time.perf_counter() - t0)
            out["seconds"][name][label] = best
    print(json.dumps(out))


if __name__ == "__main__":
    main()
