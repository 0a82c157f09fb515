"""Specification of ntkbook.experiments.ntk_speed: the table's shape and honesty, not its timings."""

import math

import pytest
import torch

from ntkbook.experiments.ntk_speed import (
    ARCHITECTURES,
    bench_architecture,
    bench_model,
    benchmark_targets,
    matmul_rate,
    ntk_benchmark,
    torchfunc_ntk,
)


def test_matmul_rate_is_a_positive_gflops_number():
    rate = matmul_rate(n=256, repeats=2)
    assert math.isfinite(rate) and rate > 0


@pytest.mark.slow
def test_benchmark_table_has_one_row_per_method_and_a_jacobian_reference():
    df = ntk_benchmark("ci", sizes=(16,), models=("mlp",), large=False, architectures=())
    assert list(df["method"]) == ["jacobian", "ntvp", "structured", "auto"]
    assert df.loc[df["method"] == "jacobian", "speedup_vs_jacobian"].iloc[0] == 1.0
    assert (df["seconds"] > 0).all() and (df["peak_MB"] >= 0).all()
    assert df.loc[df["method"] == "structured", "gram_GFLOPs"].iloc[0] > 0
    assert "auto chose" in df.loc[df["method"] == "auto", "note"].iloc[0]


@pytest.mark.slow
def test_methods_over_the_time_limit_are_skipped_and_the_table_says_so():
    df = ntk_benchmark("ci", sizes=(8, 4096), models=("mlp",), methods=("jacobian",), large=False, time_limit=1e-9,
                       architectures=())
    skipped = df[df["N"] == 4096]
    assert skipped["seconds"].isna().all() and skipped["note"].str.startswith("skipped: estimated").all()


@pytest.mark.slow
def test_targets_are_evaluated_from_the_table():
    df = ntk_benchmark("ci", sizes=(16,), models=("mlp",), large=False, architectures=())
    t = benchmark_targets(df)
    row = t[t["target"].str.startswith("auto vs torch.func")].iloc[0]
    assert row["N"] == 16 and row["target_N"] == 1024 and row["met"] is None  # not judged away from its size


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="'profile' parameter of ntk_benchmark"):
        ntk_benchmark("huge")


@pytest.mark.parametrize("kwargs, name", [
    (dict(models=("mlp", "resnet")), "models"),
    (dict(methods=("jacobian", "fast")), "methods"),
    (dict(sizes=(16, 2.5)), "sizes"),
    (dict(time_limit=float("nan")), "time_limit"),
    (dict(seed=-1), "seed"),
    (dict(isolate=1), "isolate"),
    (dict(architectures=("mlp_custom", "vit")), "architectures"),
    (dict(threads=0), "threads"),
    (dict(clock="cpu"), "clock"),  # CPU seconds only with one thread
])
def test_bad_arguments_are_refused_before_anything_is_measured(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}' parameter of ntk_benchmark"):
        ntk_benchmark("ci", **kwargs)


def test_bench_model_refuses_an_unknown_network():
    with pytest.raises(ValueError, match="'name' parameter of bench_model"):
        bench_model("resnet")


def test_the_table_has_the_documented_columns_in_order():
    from ntkbook.experiments.ntk_speed import COLUMNS

    df = ntk_benchmark("ci", sizes=(8,), models=("mlp",), methods=("jacobian",), large=False, time_limit=1e9,
                       architectures=())
    assert tuple(df.columns) == COLUMNS and list(df["method"]) == ["jacobian"]


def test_targets_are_judged_at_the_sizes_they_are_stated_for():
    import pandas as pd

    rows = [
        dict(model="mlp", task="ntk", N=1024, method="auto", speedup_vs_jacobian=65.0, gram_pct_of_matmul=80.0,
             peak_MB=300.0, seconds=1.0, note=""),
        dict(model="mlp", task="ntk", N=4096, method="structured", speedup_vs_jacobian=float("nan"),
             gram_pct_of_matmul=30.0, peak_MB=600.0, seconds=6.0, note=""),
        dict(model="ecrn", task="ntk_large", N=10_000, method="auto", speedup_vs_jacobian=float("nan"),
             gram_pct_of_matmul=50.0, peak_MB=5000.0, seconds=80.0, note=""),
    ]
    t = benchmark_targets(pd.DataFrame(rows)).set_index("target")
    assert t["met"].tolist() == [True, False, False]


def test_bench_architecture_refuses_an_unknown_network():
    with pytest.raises(ValueError, match="'name' parameter of bench_architecture"):
        bench_architecture("vit")


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_each_architecture_runs_and_plain_torch_func_gives_the_package_s_kernel(name):
    from ntkbook.ntk import empirical_ntk

    model, shape = bench_architecture(name)
    model = model.double()  # in float32 the encoders' kernels differ by 3e-4 between any two exact methods
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = torchfunc_ntk(model, x, block=2)  # (5, 5), x1 in blocks of two rows
    theta = empirical_ntk(model, x, method="structured")
    assert ref.shape == (5, 5) and float((theta - ref).abs().max() / ref.abs().max()) < 1e-10


def test_the_architecture_rows_compare_auto_with_torch_func_and_say_where_the_time_went():
    df = ntk_benchmark("ci", sizes=(8,), models=("mlp",), methods=("jacobian",), large=False,
                       architectures=("mlp_custom",))
    arch = df[df["task"] == "arch"]
    assert list(arch["method"]) == ["torch.func", "jacobian", "auto"] and (arch["N"] == 64).all()
    assert arch["speedup_vs_torchfunc"].iloc[0] == 1.0 and arch["speedup_vs_jacobian"].iloc[1] == 1.0
    auto = arch.iloc[2]
    assert auto["note"].startswith("auto chose structured") and auto["gram_s"] > 0 and auto["capture_s"] > 0
    t = benchmark_targets(df)
    row = t[t["target"].str.contains("custom dense")].iloc[0]
    assert row["target_N"] == 1024 and row["N"] == 64 and row["met"] is None  # judged only at N = 1024
