"""`ntkbook sweep`: values validated first, failures isolated, local processes or Dask."""

import textwrap

import pytest

from ntkbook.pipeline import cli, paths
from ntkbook.pipeline.notebooks import ParameterError
from ntkbook.pipeline.sweep import run_sweep

SOURCE = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    profile = "full"
    scale = 1.0
    fail_above = 100.0

    # %%
    from myst_nb import glue
    if scale > fail_above:
        raise ValueError(f"scale {scale} is too large")
    glue("squared", scale ** 2, display=False)
    glue("label", f"s={scale}", display=False)
    '''
)


@pytest.fixture
def point(tmp_path, monkeypatch):
    nb_dir = tmp_path / "notebooks" / "runs"
    nb_dir.mkdir(parents=True)
    (nb_dir / "point.py").write_text(SOURCE)
    (tmp_path / "profiles" / "ci").mkdir(parents=True)
    monkeypatch.setattr(paths, "NOTEBOOK_DIR", tmp_path / "notebooks")
    monkeypatch.setattr(paths, "PROFILE_DIR", tmp_path / "profiles")
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    return tmp_path


def test_a_bad_value_stops_the_sweep_before_any_run(point):
    with pytest.raises(ParameterError, match=r"The 'scale' parameter of notebook 'point' must be of type float.*'big'"):
        run_sweep("point", "scale", [1.0, "big"], output_dir=point / "out")
    assert not list((point / "out").glob("*.ipynb")) if (point / "out").exists() else True


def test_cli_sweep_with_a_bad_value_exits_2(point, capsys):
    assert cli.main(["sweep", "point", "-p", "scale", "1,oops", "--output-dir", str(point / "out")]) == 2
    assert "must be of type float" in capsys.readouterr().err


@pytest.mark.slow
def test_a_failed_run_is_recorded_and_the_others_complete(point):
    table = run_sweep("point", "scale", [1.0, 3.0, 200.0], workers=2, output_dir=point / "out").set_index("scale")
    assert list(table["status"]) == ["ok", "ok", "failed"]
    assert table.loc[3.0, "squared"] == pytest.approx(9.0)
    assert "ValueError: " in table.loc[200.0, "error"] and "too large" in table.loc[200.0, "error"]
    assert (point / "out" / "runs.csv").is_file()
    assert not (point / "out" / "point-scale=200.0.ipynb").exists()  # no half-written output


@pytest.mark.slow
def test_sweep_runs_on_a_two_worker_local_dask_cluster(point):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        table = run_sweep("point", "scale", [0.5, 2.0], scheduler=cluster.scheduler_address, output_dir=point / "out")
    assert list(table["status"]) == ["ok", "ok"]
    assert table["squared"].tolist() == pytest.approx([0.25, 4.0])
    assert table["label"].tolist() == ["s=0.5", "s=2.0"]


@pytest.mark.slow
def test_a_sweep_never_touches_another_writers_partial_table(point):
    out = point / "out"
    out.mkdir()
    other = out / ".runs.csv.partial"  # the name every sweep used to write its table through
    other.write_text("another sweep's rows, half written")
    table = run_sweep("point", "scale", [2.0], workers=1, output_dir=out)
    assert other.read_text() == "another sweep's rows, half written"
    assert (out / "runs.csv").read_text().splitlines()[0].startswith("scale,status")
    assert list(table["status"]) == ["ok"]
    assert not [p for p in out.iterdir() if p.name.startswith(".runs.csv.") and p != other]  # no partial of its own left


def test_a_sweep_over_a_value_out_of_the_declared_range_is_refused_before_any_run(point):
    source = point / "notebooks" / "runs" / "point.py"
    source.write_text(SOURCE.replace("scale = 1.0\n", "scale = 1.0  # float in (0, inf): the scale\n"))
    with pytest.raises(ParameterError, match=r"The 'scale' parameter of notebook 'point' must be a finite float in the range \(0, inf\)\. Got -1\.0 instead"):
        run_sweep("point", "scale", [1.0, -1.0], output_dir=point / "out")
    assert not (point / "out").exists()


def _quick_run(task):
    """A stand-in for one papermill run: the larger values finish first, the value 3.0 fails."""
    import time

    time.sleep(0.3 / task["value"])
    ok = task["value"] != 3.0
    return {task["name"]: task["value"], "status": "ok" if ok else "failed", "seconds": 0.0,
            "error": "" if ok else "ValueError: too large", "output": task["output"]}


def test_the_sweep_bar_counts_completed_and_failed_runs(point, monkeypatch, capsys):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr("ntkbook.pipeline.sweep._run_one", _quick_run)
    run_sweep("point", "scale", [1.0, 2.0, 3.0], workers=1, output_dir=point / "out")
    err = capsys.readouterr().err
    assert "sweep point over scale" in err and "3/3" in err and "failed=1" in err


def test_a_quiet_sweep_shows_no_bar(point, monkeypatch, capsys):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr("ntkbook.pipeline.sweep._run_one", _quick_run)
    run_sweep("point", "scale", [1.0, 2.0], workers=1, output_dir=point / "out", progress=False)
    assert "sweep point" not in capsys.readouterr().err


def test_on_dask_the_bar_advances_as_runs_complete_and_the_table_keeps_the_order_of_values(point, monkeypatch, capsys):
    from distributed import LocalCluster

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr("ntkbook.pipeline.sweep._run_one", _quick_run)
    with LocalCluster(n_workers=1, threads_per_worker=3, processes=False, dashboard_address=None) as cluster:
        table = run_sweep("point", "scale", [1.0, 2.0, 4.0], scheduler=cluster.scheduler_address,
                          output_dir=point / "out")
    assert table["scale"].tolist() == [1.0, 2.0, 4.0]  # 4.0 finished first, 1.0 last
    assert "3/3" in capsys.readouterr().err
