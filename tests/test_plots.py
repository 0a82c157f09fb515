"""The book's figures are legible at the width the page shows them.

The rule (measured in the built ci book, Jupyter Book theme): at a 1280 px desktop window a
figure is shown in the content column, ``DISPLAY_PX`` = 672 CSS px wide (608 to 800 px over
desktop windows). A figure is legible when

* its PNG has at least 1.5x the pixels it is shown with, up to the widest desktop column
  (natural px >= 1.5 x ``MAX_DISPLAY_PX``), and
* its smallest text, shown at ``DISPLAY_PX``, is at least the body's small text
  (``SMALL_TEXT_PX`` = 14.4 px, the theme's ``small``): font_pt / 72 * DPI * DISPLAY_PX /
  natural_px >= SMALL_TEXT_PX.

Each plot function of ``ntkbook.plots`` is built on small synthetic data, in the figure
layout the book uses, and its PNG (what ``glue_figure`` stores) is checked against the rule.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from ntkbook.plots import core  # noqa: E402
from ntkbook.plots.ablations import plot_expected_ntk_gaps, plot_kernel_change_by_mask  # noqa: E402
from ntkbook.plots.benchmarks import (plot_kernel_change, plot_learning_curves, plot_model_intervals,  # noqa: E402
                                      plot_ntk_evolution, plot_paired_differences)
from ntkbook.plots.mechanisms import (plot_lambda_max_curves, plot_metric_by_variant, plot_spectra,  # noqa: E402
                                      plot_stability)
from ntkbook.plots.ntk_speed import plot_method_times, plot_where_the_time_goes  # noqa: E402

MODELS = ["ecrn", "mlp_fourier", "mlp", "resnet", "resnet18", "ecrn_ntk", "ntk"]
rng = np.random.default_rng(0)


def _png(fig) -> Image.Image:
    data = core.figure_png(fig)
    plt.close(fig)
    return Image.open(io.BytesIO(data))


def _shown_px(font_pt: float, natural_px: int) -> float:
    """CSS px of a font of ``font_pt`` points in a PNG ``natural_px`` wide shown DISPLAY_PX wide."""
    return font_pt / 72 * core.DPI * core.DISPLAY_PX / natural_px


def assert_legible(fig):
    smallest = None
    core.enforce_min_font(fig)  # what figure_png does first; measured before the figure is closed
    smallest = core.smallest_font(fig)
    image = _png(fig)
    assert image.width >= 1.5 * core.MAX_DISPLAY_PX, f"{image.width} px natural, shown up to {core.MAX_DISPLAY_PX} px"
    assert _shown_px(smallest, image.width) >= core.SMALL_TEXT_PX, (smallest, image.width)
    return image


def _summary():
    rows = []
    for i, m in enumerate(MODELS):
        for metric in ("accuracy", "cross_entropy"):
            mean = 0.2 + 0.01 * i
            rows.append(dict(model=m, metric=metric, n=2, mean=mean, ci_low=mean - 0.05, ci_high=mean + 0.05))
    return pd.DataFrame(rows)


def _comparison(b, metric="accuracy", mean=-0.1):
    return SimpleNamespace(model_a="ecrn", model_b=b, metric=metric, n=2, mean_difference=mean,
                           ci_low=mean - 0.12, ci_high=mean + 0.11)


def _evolution(epochs):
    return pd.DataFrame([dict(model=m, seed=s, epoch=e, value=float(rng.uniform(0.1, 1.0)))
                         for m in MODELS[:5] for s in range(2) for e in epochs])


def _curves_and_runs(depth=2, alphas=(0, 0.125, 0.25, 0.5, 1, 2, 4)):
    curves, runs = [], []
    for a in alphas:
        for s in range(2):
            for e in range(0, 101, 10):
                curves.append(dict(depth=depth, alpha=a, seed=s, epoch=e, lambda_max=1.0 - 0.001 * a * e ** 0.5))
            runs.append(dict(depth=depth, alpha=a, seed=s, diverged=a == 4 and s == 1,
                             stability_ratio=0.2 * (1 + a) ** 2, peak_ratio=1.0 + 0.01 * a))
    return pd.DataFrame(curves), pd.DataFrame(runs)


def test_every_figure_is_the_book_width_and_saved_at_twice_the_pixels():
    fig, ax = core.figure(profile="ci", seeds=2)
    assert tuple(fig.get_size_inches())[0] == core.WIDTH_IN
    image = _png(fig)
    assert image.width == round(core.WIDTH_IN * core.DPI) and core.DPI >= 200


def test_smallest_font_shows_at_least_as_large_as_the_page_small_text():
    assert _shown_px(core.MIN_FONT_PT, round(core.WIDTH_IN * core.DPI)) >= core.SMALL_TEXT_PX


def test_three_panels_are_stacked_in_one_column_the_full_width():
    fig, axes = core.figure(3, profile="ci", seeds=2)
    lefts = {round(ax.get_position().x0, 3) for ax in axes}
    assert len(axes) == 3 and len(lefts) == 1
    plt.close(fig)


def test_a_caller_passing_a_tiny_legend_font_still_gets_the_minimum():
    fig, ax = core.figure(profile="ci", seeds=2)
    ax.plot([1, 2], [1, 2], label="line")
    ax.legend(fontsize=6)
    assert_legible(fig)


def test_the_run_label_lies_below_every_other_text():
    fig, ax = core.figure(profile="ci", seeds=2)
    ax.plot([1, 2], [3, 4])
    ax.set_xlabel("epoch")
    core.place_run_label(fig)
    renderer = fig.canvas.get_renderer()
    stamp = next(t for t in fig.texts if t.get_gid() == core.STAMP_GID)
    label = ax.xaxis.label.get_window_extent(renderer)
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    assert stamp.get_window_extent(renderer).y1 <= min([label.y0] + [t.y0 for t in ticks])
    plt.close(fig)


def test_a_typical_figure_png_stays_under_120_kilobytes():
    fig, axes = core.figure(2, profile="ci", seeds=3)
    for i in range(3):
        core.plot_spectrum(np.sort(rng.gamma(1, 1, (3, 100)), axis=1)[:, ::-1], ax=axes[0], label=f"m{i}")
    axes[1].plot(np.arange(50), rng.normal(size=50), "o-")
    assert len(core.figure_png(fig)) < 120_000
    plt.close(fig)


def test_short_log_axis_gets_more_than_one_labelled_tick():
    fig, ax = core.figure(profile="ci", seeds=2)
    ax.plot([0, 1, 2], [1.0, 1.02, 1.3])
    ax.set_yscale("log")
    core.readable_log_axis(ax.yaxis)
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    shown = [t for t in ax.get_yticklabels() if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert len(shown) >= 3
    plt.close(fig)


def test_benchmark_results_stacked_intervals_are_legible():
    fig, axes = core.figure(2, profile="ci", seeds=2, stack=True)
    plot_model_intervals(_summary(), "accuracy", ax=axes[0], n_expected=2)
    plot_model_intervals(_summary(), "cross_entropy", ax=axes[1], n_expected=2)
    assert_legible(fig)


def test_three_dataset_paired_differences_are_legible():
    fig, axes = core.figure(3, profile="ci", seeds=2)
    for ax in axes:
        plot_paired_differences([_comparison(b) for b in MODELS[1:]], ax=ax, labels=[f"- {b}" for b in MODELS[1:]])
    assert_legible(fig)


def test_paired_differences_use_few_enough_ticks_not_to_collide():
    fig, ax = core.figure(profile="ci", seeds=2)
    plot_paired_differences([_comparison(b, mean=-0.13 + 0.02 * i) for i, b in enumerate(MODELS[1:])], ax=ax)
    fig.canvas.draw()
    assert len([t for t in ax.get_xticklabels() if t.get_text()]) <= 7
    plt.close(fig)


def test_learning_curves_and_ntk_evolution_are_legible():
    frame = pd.DataFrame([dict(model=m, seed=s, epoch=e, split="test", metric="mse", value=1.0 / (e + 1))
                          for m in MODELS[:4] for s in range(2) for e in range(5)])
    fig, axes = core.figure(2, profile="ci", seeds=2, stack=True)
    plot_learning_curves(frame, "mse", ax=axes[0], log=True)
    plot_ntk_evolution(_evolution([0, 1, 2, 3]), ax=axes[1])
    axes[1].legend()
    assert_legible(fig)


def test_kernel_change_of_a_single_epoch_is_drawn_per_model_not_on_an_epoch_axis():
    fig, ax = core.figure(profile="ci", seeds=2)
    plot_kernel_change(_evolution([0, 3]), ax=ax)
    assert [t.get_text() for t in ax.get_xticklabels()] == MODELS[:5]
    assert "one epoch" in ax.get_xlabel()
    assert_legible(fig)


def test_lambda_max_curves_of_three_depths_are_legible_with_legends_beside():
    fig, axes = core.figure(3, profile="ci", seeds=2, stack=True)
    for ax, depth in zip(axes, (2, 4, 8)):
        curves, runs = _curves_and_runs(depth)
        plot_lambda_max_curves(curves, runs, depth=depth, ax=ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
    assert_legible(fig)


def test_stability_panels_are_legible():
    _, runs = _curves_and_runs()
    fig, axes = core.figure(2, profile="ci", seeds=2, stack=True)
    plot_stability(runs, column="stability_ratio", ax=axes[0])
    plot_stability(runs, column="peak_ratio", ax=axes[1], limit=2.0, limit_label=r"$1/\rho = 2$")
    assert_legible(fig)


def test_spectra_and_effective_rank_side_by_side_are_legible():
    eig = {name: np.sort(rng.gamma(1, 1, (3, 64)), axis=1)[:, ::-1] for name in ["ECRN", "no Fourier", "alpha = 1"]}
    table = pd.DataFrame([dict(model=m, seed=s, metric="effective_rank", value=float(rng.uniform(2, 30)))
                          for m in eig for s in range(3)])
    fig, axes = core.figure(2, profile="ci", seeds=3)
    plot_spectra(eig, ax=axes[0])
    plot_metric_by_variant(table, "effective_rank", ax=axes[1])
    assert_legible(fig)


def test_equal_spectra_are_drawn_in_different_line_styles():
    same = np.sort(rng.gamma(1, 1, (2, 32)), axis=1)[:, ::-1]
    fig, ax = core.figure(profile="ci", seeds=2)
    plot_spectra({"ECRN": same, "no stoch. depth": same}, ax=ax)
    styles = {line.get_linestyle() for line in ax.get_lines()}
    assert len(styles) == 2
    plt.close(fig)


def test_stochastic_depth_panels_are_legible():
    ps = [0.0, 0.1, 0.3, 0.5]
    gaps = pd.DataFrame([dict(p=p, seed=s, formula_bias=0.01 + p, eval_bias=0.02 + p, roundoff=1e-7, tolerance=1e-5,
                              formula_z=1.1, eval_z=3.0 + p, exact_z=1.0) for p in ps for s in range(2)])
    fig, (ax_bias, ax_z) = core.figure(2, profile="ci", seeds=2, stack=True)
    plot_expected_ntk_gaps(gaps, ax_bias=ax_bias, ax_z=ax_z)
    assert_legible(fig)
    traj = pd.DataFrame([dict(p=p, draw=d, epoch=e, kernel_change=0.01 * e * (1 + p)) for p in ps for d in range(3)
                         for e in range(4)])
    fig, (ax_mean, ax_std) = core.figure(2, profile="ci", seeds=3, stack=True)
    plot_kernel_change_by_mask(traj, ax_mean=ax_mean, ax_std=ax_std)
    assert_legible(fig)


def test_ntk_speed_figures_are_legible():
    from ntkbook.experiments.ntk_speed import ARCHITECTURES

    rows = [dict(model=n, task="arch", method="auto", N=64, seconds=1.0, speedup_vs_torchfunc=2.0 + i, probe_s=0.1,
                 capture_s=0.2, jacobian_s=0.0, persample_s=0.3, gram_s=0.2) for i, n in enumerate(ARCHITECTURES)]
    rows += [dict(model=m, task="ntk", method=meth, N=n, seconds=0.01 * n ** k) for m in ("mlp", "ecrn")
             for meth, k in (("jacobian", 1.0), ("ntvp", 1.2), ("auto", 0.5)) for n in (64, 96, 128)]
    table = pd.DataFrame(rows)
    fig, axes = core.figure(2, profile="ci", seeds=1, stack=True)
    plot_where_the_time_goes(table, axes=axes)
    assert_legible(fig)
    fig, axes = core.figure(2, profile="ci", seeds=1)
    for ax, m in zip(axes, ("mlp", "ecrn")):
        plot_method_times(table, ax=ax, model=m)
    fig.canvas.draw()
    assert [t.get_text() for t in axes[0].get_xticklabels() if t.get_text()] == ["64", "96", "128"]
    assert_legible(fig)


@pytest.mark.parametrize("panels", [0, 1.5])
def test_figure_refuses_a_panel_count_that_is_not_a_positive_int(panels):
    with pytest.raises(ValueError, match="'panels' parameter of figure"):
        core.figure(panels, profile="ci", seeds=1)
