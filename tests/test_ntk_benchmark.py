"""Specification of ntkbook.experiments.ntk_speed: the table's shape and honesty, not its timings."""

import math

import pytest

from ntkbook.experiments.ntk_speed import bench_model, benchmark_targets, matmul_rate, ntk_benchmark


def test_matmul_rate_is_a_positive_gflops_number():
    rate = matmul_rate(n=256, repeats=2)
    assert math.isfinite(rate) and rate > 0


@pytest.mark.slow
def test_benchmark_table_has_one_row_per_method_and_a_jacobian_reference():
    df = ntk_benchmark("ci", sizes=(16,), models=("mlp",), large=False)
    assert list(df["method"]) == ["jacobian", "ntvp", "structured", "auto"]
    assert df.loc[df["method"] == "jacobian", "speedup_vs_jacobian"].iloc[0] == 1.0
    assert (df["seconds"] > 0).all() and (df["peak_MB"] >= 0).all()
    assert df.loc[df["method"] == "structured", "gram_GFLOPs"].iloc[0] > 0
    assert "auto chose" in df.loc[df["method"] == "auto", "note"].iloc[0]


@pytest.mark.slow
def test_methods_over_the_time_limit_are_skipped_and_the_table_says_so():
    df = ntk_benchmark("ci", sizes=(8, 4096), models=("mlp",), methods=("jacobian",), large=False, time_limit=1e-9)
    skipped = df[df["N"] == 4096]
    assert skipped["seconds"].isna().all() and skipped["note"].str.startswith("skipped: estimated").all()


@pytest.mark.slow
def test_targets_are_evaluated_from_the_table():
    df = ntk_benchmark("ci", sizes=(16,), models=("mlp",), large=False)
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
])
def test_bad_arguments_are_refused_before_anything_is_measured(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}' parameter of ntk_benchmark"):
        ntk_benchmark("ci", **kwargs)


def test_bench_model_refuses_an_unknown_network():
    with pytest.raises(ValueError, match="'name' parameter of bench_model"):
        bench_model("resnet")


def test_the_table_has_the_documented_columns_in_order():
    from ntkbook.experiments.ntk_speed import COLUMNS

    df = ntk_benchmark("ci", sizes=(8,), models=("mlp",), methods=("jacobian",), large=False, time_limit=1e9)
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
