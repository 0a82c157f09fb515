"""Specifications of the progress bars (ntkbook._progress) in the library's long loops."""

import torch

from ntkbook import _progress
from ntkbook.models import MLP
from ntkbook.ntk import empirical, empirical_ntk


def test_a_shown_bar_writes_to_stderr(capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    with _progress.progress_bar(total=2, desc="work") as bar:
        bar.update(2)
    assert "work" in capsys.readouterr().err


def test_show_false_writes_nothing(capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    with _progress.progress_bar(total=2, desc="work", show=False) as bar:
        bar.update(2)
    assert capsys.readouterr().err == ""


def test_tqdm_disable_silences_every_bar(capsys, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    with _progress.progress_bar(total=2, desc="work") as bar:
        bar.update(2)
    assert capsys.readouterr().err == ""


def test_tqdm_disable_zero_does_not_silence(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not _progress.quiet_by_environment()


def _kernel(capsys, monkeypatch, **kw):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(empirical, "PROGRESS_DELAY_S", 0.0)
    model = MLP(3, width=16, depth=1, seed=0).double()
    x = torch.randn(12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    theta = empirical_ntk(model, x, x[:5], **kw)
    return theta, capsys.readouterr().err


def test_empirical_ntk_shows_a_bar_over_row_blocks_when_asked(capsys, monkeypatch):
    _, err = _kernel(capsys, monkeypatch, block_size=4, progress=True)
    assert "empirical_ntk" in err and "/3" in err  # 12 rows in blocks of 4


def test_empirical_ntk_is_silent_by_default(capsys, monkeypatch):
    _, err = _kernel(capsys, monkeypatch, block_size=4)
    assert err == ""


def test_empirical_ntk_shows_no_bar_for_a_single_block(capsys, monkeypatch):
    _, err = _kernel(capsys, monkeypatch, block_size=64, progress=True)
    assert err == ""


def test_the_bar_does_not_change_the_kernel(capsys, monkeypatch):
    quiet, _ = _kernel(capsys, monkeypatch, block_size=4)
    shown, _ = _kernel(capsys, monkeypatch, block_size=4, progress=True)
    assert torch.equal(quiet, shown)


def test_the_kernels_of_the_pipeline_run_with_library_bars_off(monkeypatch):
    from ntkbook.pipeline.notebooks import kernel_environment

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert kernel_environment("ci", False, None)["TQDM_DISABLE"] == "1"
