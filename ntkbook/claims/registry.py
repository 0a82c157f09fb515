"""The claims the book checks, and the saved record of each check.

``CLAIMS`` lists every claim of the paper (arXiv:2512.08264), every theory result of
part I and every sanity check that a chapter tests, each with a stable id, the chapter
that tests it, where the claim comes from and its kind:

- ``sanity``: a property that correct software has whatever the paper says (the NTK is
  PSD; three ways of computing it agree). Passing it is evidence about the code, never
  about the paper, so it is never counted as *reproduced*: its statuses are *passed*,
  *failed* and *inconclusive*.
- ``theory``: a theory result the paper rests on (Jacot et al., Lee et al., Arora et al.).
- ``paper``: a claim the paper itself makes.
- ``beyond``: a question the paper leaves open (its open questions and next checks),
  answered by the book's part "Beyond the paper": the answer *holds* or *does not hold*.

The kind lives here, not in the records: the report takes it from the registry, so
records saved before kinds existed read the same as new ones.

A chapter calls :func:`record_claim` with the :class:`Verdict` its rule computed; the
record (the rule's name and inputs, the profile, the seeds, the measured values, the
p-value) is saved as ``ID.json`` in the claims folder of the run's profile.

Only a canonical run of a chapter saves records, so that an ad-hoc run never overwrites
what the report reads: the pipeline names the folder in ``NTKBOOK_CLAIMS_DIR`` for such a
run alone, and :func:`record_claim` without an explicit ``results_dir`` saves nothing when
that variable is unset. This module never asks where the repository is: the folder comes
from the caller or from the environment. Records are strict JSON: a NaN or infinite
number is saved as ``null`` and read back by :func:`load_records` as NaN wherever the
rule takes a number.

The reproduction report reads these records back and derives each status again from the
saved inputs with :func:`ntkbook.claims.rules.derive`, so no status is ever typed by hand:
for a paper claim or a theory result, supported -> *reproduced*, not supported -> *not
reproduced*; for a sanity check, supported -> *passed*, not supported -> *failed*; for
every kind, inconclusive -> *inconclusive*, vacuous -> *vacuous*, and no record -> *not run
in this profile*.

A record also keeps the p-value of the test behind the verdict (``p_value``, None when the
verdict rests on no single test, and absent from records saved before p-values were kept)
and the measured ``values``. By convention (:func:`model_metrics`) ``values["models"]``
holds each model's own metric with its interval, ``{name: {"metric", "mean", "low",
"high", "n"}}``, so that a comparison's record shows the two numbers compared and not only
their difference.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ntkbook._io import read_json, write_json
from ntkbook._validation import check_float, fail
from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, RULES, SUPPORTED, VACUOUS, Verdict, derive

CLAIMS_DIR_ENV = "NTKBOOK_CLAIMS_DIR"  # set by the pipeline for a canonical run only

SANITY, THEORY, PAPER, BEYOND = "sanity", "theory", "paper", "beyond"
KINDS = (PAPER, THEORY, BEYOND, SANITY)  # the order the report lists them in


@dataclass(frozen=True)
class Claim:
    """One claim, worded once: the chapter's box and the report both read it from here."""

    id: str
    text: str  # the claim, as the paper or the theory paper makes it
    chapter: str  # the notebook stem that tests it
    source: str  # where it comes from: the paper (and its section/equation) or a theory paper
    kind: str  # one of KINDS: "paper" (the paper's own claim), "theory" (a result it rests on), "beyond" (an open question), "sanity" (correct software)
    tested_as: str = ""  # the testable form the chapter checks, where it is narrower than the text

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"The 'kind' of claim {self.id!r} must be one of {', '.join(KINDS)}. Got {self.kind!r} instead.")

    @property
    def wording(self) -> str:
        """The claim as its box shows it: the text, then "(tested as: ...)" when there is one."""
        if not self.tested_as:
            return self.text
        return f"{self.text.rstrip('.')} (tested as: {self.tested_as})."


CLAIMS: dict[str, Claim] = {
    c.id: c
    for c in [
        # Part I: sanity checks of the software (they hold for any correct implementation)
        Claim("ntk_psd", "The empirical NTK is a symmetric positive semi-definite matrix.", "01_empirical_ntk", "the definition Theta = J J^T (Jacot et al. 2018)", SANITY),
        Claim("ntk_methods_agree", "The Jacobian contraction, NTK-vector products and the structured layerwise rule give the same NTK.", "01_empirical_ntk", "Novak, Sohl-Dickstein and Schoenholz 2022 (all three compute J J^T exactly)", SANITY),
        # Part I: theory results the paper builds on
        Claim("width_convergence_rate", "The empirical NTK at initialization converges to the analytic NTK, with relative error falling like width^(-1/2).", "02_infinite_width", "Jacot et al. 2018 (convergence); the width^(-1/2) is the central-limit rate of an average over the units, computed for relu networks by Hanin and Nica 2020 (Arora et al. 2019, Theorem 3.1, guarantee only width^(-1/4))", "theory"),
        Claim("lazy_training", "The relative change of the NTK during training falls as the width grows (the lazy regime).", "02_infinite_width", "Jacot et al. 2018; Lee et al. 2019 (at most width^(-1/2)); Dyer and Gur-Ari 2020 (of order 1/width)", "theory"),
        Claim("linearized_dynamics", "A wide network trained by gradient descent follows the linearized (kernel) dynamics, with a gap that shrinks as width grows.", "03_linearized_dynamics", "Lee et al. 2019", "theory"),
        Claim("spectral_bias_rates", "The residual's projection on NTK eigenvector i decays like exp(-eta lambda_i t / n) (book loss 1/(2n) sum r^2).", "03_linearized_dynamics", "Rahaman et al. 2019; Jacot et al. 2018", "theory"),
        Claim("generalization_bound", "The bound sqrt(2 y^T H^-1 y / n) + sqrt(log(n / (lambda_0 delta)) / n) (plus the final training loss) upper-bounds the test loss of trained wide two-layer relu networks.", "04_generalization_bound", "Arora, Du, Hu, Li and Wang 2019 (fine-grained analysis), Theorem 5.1; the paper's Eq. (8) (reconstruction)", "theory",
              tested_as="on clean labels 0.8 (x_1 + x_2^2) of the kind the theorem's authors prove learnable, at the largest training set, from an init of scale kappa = lambda_0 delta / n; a bound of 1 or more is vacuous"),
        # Part II: the paper's claims about its mechanisms
        Claim("ecrn_spectrum_vs_baselines", "At initialization the ECRN's NTK spectrum decays more slowly (larger effective rank) than that of an MLP or a plain ResNet of the same width and depth.", "05_architecture", "the paper, section III.D (reconstruction of the architecture, Eq. (13))", "paper",
              tested_as="on standardized inputs, the effective rank of the ECRN's NTK exceeds both the MLP's and the ResNet's, each paired across seeds, at the package's default Fourier scale"),
        Claim("alpha_bounds_lambda_max", "The growth of lambda_max during training is bounded by a term proportional to alpha_l^2.", "06_eigenvalue_control", "the paper, Eq. (15) (reconstructed as G <= G_0 + C sum_l alpha_l^2)", "paper",
              tested_as="with each run's step set from its own lambda_max(0), the log-log exponent k of the excess growth G - G_0 against alpha is at least 2, which a bound with one C for every alpha down to 0 requires"),
        Claim("large_alpha_diverges", "Too large an alpha for the depth makes lambda_max explode and training diverge.", "06_eigenvalue_control", "the paper, failure signatures of mechanism 2", "paper",
              tested_as="at the largest alpha of the grid, with each run's step a fixed fraction of its own stability limit 2n / lambda_max(0), at least half the runs diverge"),
        Claim("fourier_reduces_spectral_bias", "Fourier features reduce spectral bias: the high-frequency component is learned with lower error.", "07_ablation_fourier", "the paper, mechanism 1 (section III.D); Tancik et al. 2020", "paper",
              tested_as="with the Fourier scale chosen on validation splits of the training data, the final test error of the high-frequency component is lower with the embedding than without, paired across seeds"),
        Claim("fourier_enriches_spectrum", "Fourier features slow the decay of the NTK eigenvalues.", "07_ablation_fourier", "the paper, section III.D", "paper",
              tested_as="the effective rank of the NTK at initialization is larger with the embedding, at the Fourier scale chosen on validation data, than without, paired across seeds"),
        Claim("stochastic_depth_expected_ntk", "Under stochastic depth the expected NTK follows the (1 - p_l)-weighted formula.", "08_ablation_stochastic_depth", "the paper, Eq. (17) (reconstructed)", "paper",
              tested_as="the exact expectation over all 2^L masks equals, up to floating-point round-off, the NTK with every branch scaled by alpha_l sqrt(1 - p_l), our reconstruction of the formula"),
        Claim("stochastic_depth_generalization", "Stochastic depth lowers the test error.", "08_ablation_stochastic_depth", "the paper, mechanism 3 (section IV.B)", "paper",
              tested_as="on sinusoid regression, with the learning rate and the stopping epoch of each variant chosen on a validation split under the same budget, the test MSE with stochastic depth minus without is below 0, paired by seed"),
        Claim("bscale_underfit_overfit", "Small B-scales underfit and large B-scales overfit (the pattern of Tancik et al. 2020, Figure 4).", "09_ablation_bscale", "the paper, break condition of mechanism 1; Tancik et al. 2020", "paper",
              tested_as="against the scale each seed chooses on a validation split, the train MSE at the smallest scale is higher and the test-train gap at the largest scale is larger, both paired by seed"),
        Claim("width_reduces_kernel_change", "As the width grows, the change of the ECRN's NTK during training decreases, approaching the infinite-width limit.", "10_width_scaling", "the paper, first experiments (3: width scaling)", "paper",
              tested_as="the log-log slope of the final relative change against the width is below 0; the slope is reported, not judged, against -1/2 (the n^(-1/2) bound of Jacot et al. 2018 and Lee et al. 2019) and -1 (the 1/n of Dyer and Gur-Ari 2020)"),
        # Part III: the paper's benchmark claims
        Claim("synthetic_regression_vs_mlp", "On sinusoid regression the ECRN has lower test MSE than an MLP.", "11_synthetic_benchmarks", "arXiv:2512.08264, key results (synthetic regression); setup reconstructed", "paper"),
        Claim("synthetic_regression_vs_resnet", "On sinusoid regression the ECRN has lower test MSE than a plain ResNet.", "11_synthetic_benchmarks", "arXiv:2512.08264, key results (synthetic regression); setup reconstructed", "paper"),
        Claim("synthetic_regression_vs_ntk", "On sinusoid regression the ECRN has lower test MSE than NTK kernel regression.", "11_synthetic_benchmarks", "arXiv:2512.08264, key results (synthetic regression); setup reconstructed", "paper"),
        Claim("gaussian_mixture_vs_mlp", "On the 5-class Gaussian mixture the ECRN has higher test accuracy than an MLP.", "11_synthetic_benchmarks", "arXiv:2512.08264, key results (synthetic classification); setup reconstructed", "paper"),
        Claim("gaussian_mixture_vs_resnet", "On the 5-class Gaussian mixture the ECRN has higher test accuracy than a ResNet.", "11_synthetic_benchmarks", "arXiv:2512.08264, abstract (synthetic classification, against ResNet-18); setup reconstructed", "paper",
              tested_as="against the book's plain residual network, a residual MLP of the ECRN's width and depth that stands in on vector inputs for ResNet-18, a convolutional network for images"),
        Claim("gaussian_mixture_vs_ntk", "On the 5-class Gaussian mixture the ECRN has higher test accuracy than NTK kernel regression.", "11_synthetic_benchmarks", "arXiv:2512.08264, abstract (synthetic classification, against conventional NTK models); setup reconstructed", "paper"),
        Claim("uci_boston_vs_mlp", "On Boston Housing the ECRN has lower test MSE than an MLP.", "12_uci", "arXiv:2512.08264, key results (UCI); setup reconstructed", "paper"),
        Claim("uci_iris_vs_mlp", "On Iris the ECRN has higher test accuracy than an MLP.", "12_uci", "arXiv:2512.08264, key results (UCI); setup reconstructed", "paper"),
        Claim("uci_wine_vs_mlp", "On Wine the ECRN has higher test accuracy than an MLP.", "12_uci", "arXiv:2512.08264, key results (UCI); setup reconstructed", "paper"),
        Claim("uci_boston_vs_resnet", "On Boston Housing the ECRN has lower test MSE than a ResNet.", "12_uci", "arXiv:2512.08264, key results (UCI, against ResNet-18); setup reconstructed", "paper",
              tested_as="against the book's plain residual network, a residual MLP of the ECRN's width and depth that stands in on vector inputs for ResNet-18, a convolutional network for images"),
        Claim("uci_boston_vs_ntk", "On Boston Housing the ECRN has lower test MSE than NTK kernel regression.", "12_uci", "arXiv:2512.08264, abstract (UCI, against conventional NTK models); setup reconstructed", "paper"),
        Claim("uci_iris_vs_resnet", "On Iris the ECRN has higher test accuracy than a ResNet.", "12_uci", "arXiv:2512.08264, key results (UCI, against ResNet-18); setup reconstructed", "paper",
              tested_as="against the book's plain residual network, a residual MLP of the ECRN's width and depth that stands in on vector inputs for ResNet-18, a convolutional network for images"),
        Claim("uci_iris_vs_ntk", "On Iris the ECRN has higher test accuracy than NTK kernel regression.", "12_uci", "arXiv:2512.08264, abstract (UCI, against conventional NTK models); setup reconstructed", "paper"),
        Claim("uci_wine_vs_resnet", "On Wine the ECRN has higher test accuracy than a ResNet.", "12_uci", "arXiv:2512.08264, key results (UCI, against ResNet-18); setup reconstructed", "paper",
              tested_as="against the book's plain residual network, a residual MLP of the ECRN's width and depth that stands in on vector inputs for ResNet-18, a convolutional network for images"),
        Claim("uci_wine_vs_ntk", "On Wine the ECRN has higher test accuracy than NTK kernel regression.", "12_uci", "arXiv:2512.08264, abstract (UCI, against conventional NTK models); setup reconstructed", "paper"),
        Claim("cifar_accuracy_vs_ntk", "On the CIFAR-10 5k subset the ECRN has higher test accuracy than NTK kernel regression.", "13_cifar10", "arXiv:2512.08264, key results (CIFAR-10 subset); setup reconstructed", "paper"),
        Claim("cifar_cross_entropy_vs_ntk", "On the CIFAR-10 5k subset the ECRN has lower test cross-entropy than NTK kernel regression.", "13_cifar10", "arXiv:2512.08264, key results (CIFAR-10 subset); setup reconstructed", "paper"),
        Claim("cifar_accuracy_vs_resnet18", "On the CIFAR-10 5k subset the ECRN has higher test accuracy than ResNet-18.", "13_cifar10", "arXiv:2512.08264, key results (CIFAR-10 subset); setup reconstructed", "paper"),
        # Beyond the paper: its open questions and next checks, answered
        Claim("attention_alpha_bounds_lambda_max", "In a pre-norm Transformer encoder whose attention and MLP branches are scaled by alpha_l, the growth of lambda_max during training is bounded by a term proportional to alpha_l^2, as the paper claims for residual MLPs.", "beyond_attention", "the paper's open question 2 (eigenvalue control in attention models); the bound of Eq. (15) as reconstructed in chapter 06", BEYOND,
              tested_as="with each run's step set from its own lambda_max(0), the log-log exponent k of the excess growth G - G_0 against alpha is at least 2, which a bound with one C for every alpha down to 0 requires"),
        Claim("attention_depth_scaling_flattens_lambda_max", "Scaling the branches by alpha_l = 1/sqrt(L) keeps lambda_max at initialization from growing with the depth L of the Transformer, as it grows with alpha_l = 1.", "beyond_attention", "the paper's open question 2; the paper's residual scaling rule (mechanism 2) carried over to attention blocks", BEYOND,
              tested_as="the log-log slope of lambda_max(0) against L with alpha_l = 1/sqrt(L) is below the slope with alpha_l = 1 (their paired difference over seeds is below 0)"),
        Claim("attention_width_reduces_kernel_change", "As the model width of the scaled Transformer grows, the relative change of its NTK during training decreases.", "beyond_attention", "the paper's open question 2; the lazy-training limit (Jacot et al. 2018) for attention networks", BEYOND,
              tested_as="the log-log slope of the final relative change against the width is below 0"),
        Claim("cntk_matches_wide_cnns", "The analytic NTK of a ReLU convolutional network is the limit of the empirical NTKs of random CNNs as their width grows, with relative error falling like width^(-1/2).", "beyond_scale", "Arora et al. 2019 (exact computation of the convolutional NTK); the central-limit rate of chapter 02", THEORY,
              tested_as="the log-log slope of the relative error of the mean empirical NTK against the number of channels lies in [-0.75, -0.25]"),
        Claim("cntk_beats_fc_ntk", "On CIFAR-10, kernel regression with the convolutional NTK has higher test accuracy than with the fully connected NTK on flattened pixels.", "beyond_scale", "Arora et al. 2019 (CNTK against FC-NTK on CIFAR-10); the conventional NTK for images, which chapter 13 does not use", BEYOND,
              tested_as="at the largest training size run, both kernels with ridge and temperature chosen on validation images, the paired bootstrap interval of the accuracy difference over test images is above 0"),
        Claim("ecrn_lambda_max_depth_growth", "At fixed width and alpha_l, the ECRN's lambda_max at initialization grows with depth no faster than sum_l alpha_l^2, which grows linearly in the number of blocks.", "beyond_scale", "the paper's next check 1 (scale); the bound of Eq. (15) as reconstructed in chapter 06", BEYOND,
              tested_as="from 2 to 32 residual blocks, the log-log slope of lambda_max(0) against the number of blocks is at most 1"),
        Claim("ecrn_lambda_max_growth_below_mlp_at_scale", "As the CIFAR-10 training set grows, the ECRN's largest NTK eigenvalue grows less during training than an MLP's.", "beyond_scale", "the paper's next check 1 (scale-up: monitor lambda_max(t) and validation accuracy on larger CIFAR-10 subsets); the controlled eigenvalue growth of mechanism 2", BEYOND,
              tested_as="both networks tuned and trained by chapter 13's protocol at every training size run, the log of lambda_max(T) / lambda_max(0) on the probe images (T: the last recorded epoch of each run) of the ECRN minus that of the MLP, paired over sizes and seeds, has a 95 % interval below 0"),
        Claim("ecrn_accuracy_edge_persists_with_n", "The ECRN's validation accuracy relative to an MLP's does not erode as the CIFAR-10 training set grows.", "beyond_scale", "the paper's next check 1 (controlled eigenvalue growth should go with sustained generalization at scale)", BEYOND,
              tested_as="the validation accuracy of the ECRN minus the MLP's (each at its selected epoch, in points), fitted against log2 n per seed across the sizes run: holds if the 95 % interval of the mean slope lies at or above -1 point per doubling of n, does not hold if it lies entirely below -1"),
    ]
}

REPRODUCED, NOT_REPRODUCED, PASSED, FAILED = "reproduced", "not reproduced", "passed", "failed"
HOLDS, DOES_NOT_HOLD = "holds", "does not hold"
STATUS = {SUPPORTED: REPRODUCED, NOT_SUPPORTED: NOT_REPRODUCED, INCONCLUSIVE: INCONCLUSIVE, VACUOUS: VACUOUS}
SANITY_STATUS = {SUPPORTED: PASSED, NOT_SUPPORTED: FAILED, INCONCLUSIVE: INCONCLUSIVE, VACUOUS: VACUOUS}
BEYOND_STATUS = {SUPPORTED: HOLDS, NOT_SUPPORTED: DOES_NOT_HOLD, INCONCLUSIVE: INCONCLUSIVE, VACUOUS: VACUOUS}
KIND_STATUS = {PAPER: STATUS, THEORY: STATUS, BEYOND: BEYOND_STATUS, SANITY: SANITY_STATUS}  # a rule's verdict -> the report's status, by kind
NOT_RUN = "not run in this profile"
MODEL_FIELDS = ("metric", "mean", "low", "high", "n")  # one entry of values["models"]


def status_of(verdict: str, kind: str) -> str:
    """The report's word for a rule's ``verdict`` on a claim of ``kind`` (a sanity check
    passes or fails; a paper claim or a theory result is reproduced or not)."""
    if kind not in KIND_STATUS:
        raise ValueError(f"The 'kind' parameter of status_of must be one of {', '.join(KINDS)}. Got {kind!r} instead.")
    return KIND_STATUS[kind][verdict]


def model_metrics(metric: str, intervals: Mapping[str, Any]) -> dict:
    """The ``values`` entry that keeps each model's own metric with its interval.

    ``intervals`` maps a model's name to an :class:`ntkbook.stats.Interval` (or a
    ``(mean, low, high)`` triple) of ``metric`` (e.g. "test MSE"). Returns
    ``{"models": {name: {"metric", "mean", "low", "high", "n"}}}``, to be merged into the
    ``values`` of :func:`ntkbook.claims.chapter.check_claim`::

        values={**pair.as_dict(), **model_metrics("test accuracy", {"ECRN": iv_ecrn, "MLP": iv_mlp})}

    The report shows these beside the difference the verdict judged.
    """
    if not isinstance(metric, str) or not metric:
        fail("metric", "model_metrics", "a non-empty string", metric)
    if not isinstance(intervals, Mapping) or not intervals:
        fail("intervals", "model_metrics", "a non-empty mapping of model name to interval", intervals)
    models = {}
    for name, interval in intervals.items():
        try:
            mean, low, high = (float(x) for x in interval)
        except (TypeError, ValueError):
            fail("intervals", "model_metrics", f"a mapping of each model to an Interval or a (mean, low, high) triple "
                 f"(model {name!r})", interval)
        n = getattr(interval, "n", None)
        models[str(name)] = {"metric": metric, "mean": mean, "low": low, "high": high, "n": None if n is None else int(n)}
    return {"models": models}


def _check_values(values: Any) -> dict:
    """``values`` (None or a dict); a ``models`` entry must follow :func:`model_metrics`."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        fail("values", "check_claim", "a dict or None", values)
    models = values.get("models")
    if models is not None:
        ok = isinstance(models, Mapping) and all(isinstance(m, Mapping) and set(MODEL_FIELDS) <= set(m) for m in models.values())
        if not ok:
            fail("values", "check_claim", f"a dict whose 'models' entry maps each model to {{{', '.join(MODEL_FIELDS)}}}, "
                 "as ntkbook.claims.registry.model_metrics builds it", models)
    return dict(values)


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: numpy and torch scalars and arrays become numbers and
    lists, and a NaN or infinite number becomes None (``null``: JSON has no NaN)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    return value


def _check_p_value(p_value: Any) -> float | None:
    """``p_value`` as a float in [0, 1], or None (also for NaN, a test that could not be
    computed); anything else raises the package's InvalidParameterError."""
    if p_value is None:
        return None
    if isinstance(p_value, numbers.Real) and not isinstance(p_value, bool) and math.isnan(float(p_value)):
        return None  # the test could not be computed (e.g. every difference equal): "no test"
    return check_float(p_value, "p_value", "check_claim", 0.0, 1.0)


def _claims_folder(profile: str, results_dir) -> Path | None:
    """``results_dir/claims/PROFILE`` if ``results_dir`` is given, else ``$NTKBOOK_CLAIMS_DIR``, else None."""
    if results_dir is not None:
        return Path(results_dir) / "claims" / profile
    folder = os.environ.get(CLAIMS_DIR_ENV)
    return Path(folder) if folder else None


def record_claim(claim_id: str, verdict: Verdict, *, profile: str, seeds: int, values: dict | None = None,
                 p_value: float | None = None, results_dir=None) -> Path | None:
    """Save the check of claim ``claim_id``; returns the path of its JSON record, or None.

    The record goes to ``results_dir/claims/PROFILE/ID.json`` when ``results_dir`` is
    given, else to ``$NTKBOOK_CLAIMS_DIR/ID.json`` when the pipeline set that variable (a
    canonical run), else nowhere: an ad-hoc run (``-p`` overrides, another output, a sweep,
    plain papermill) still shows its box but never overwrites the records the report
    reads, and None is returned.

    ``values`` holds the measured numbers the chapter wants in the report (means,
    intervals, sizes); the verdict's own rule inputs are always saved. NaN and infinite
    numbers are saved as ``null``. ``p_value`` is the p-value of the test behind the
    verdict (a number in [0, 1]) or None when there is none (NaN, a test that could not be
    computed, is saved as None too); it is checked before anything is saved.
    """
    p_value = _check_p_value(p_value)
    values = _check_values(values)
    if claim_id not in CLAIMS:
        raise ValueError(f"The 'claim_id' must be one of the ids in ntkbook.claims.registry.CLAIMS. Got {claim_id!r} instead.")
    if not verdict.rule_name:
        raise ValueError("record_claim needs a verdict computed by a rule of ntkbook.claims.rules (it carries the rule's inputs).")
    folder = _claims_folder(profile, results_dir)
    if folder is None:
        return None
    record = {
        "claim_id": claim_id,
        "chapter": CLAIMS[claim_id].chapter,
        "profile": profile,
        "seeds": int(seeds),
        "verdict": verdict.verdict,
        "rule_name": verdict.rule_name,
        "inputs": _jsonable(verdict.inputs),
        "rule": verdict.rule,
        "measured": verdict.measured,
        "values": _jsonable(values or {}),
        "p_value": p_value,
    }
    return write_json(folder / f"{claim_id}.json", record)


def _null_to_nan(value: Any) -> Any:
    if value is None:
        return math.nan
    if isinstance(value, list):
        return [_null_to_nan(v) for v in value]
    return value


def _restore_nan(record: dict) -> dict:
    """Read the ``null`` a NaN was saved as back as NaN, in every rule input that takes a
    number (an input whose default is None, such as ``at_most``, keeps its None)."""
    rule = RULES.get(record.get("rule_name"))
    inputs = record.get("inputs")
    if rule is None or not isinstance(inputs, dict):
        return record
    signature = inspect.signature(rule)
    restored = {}
    for key, value in inputs.items():
        param = signature.parameters.get(key)
        takes_none = param is not None and param.default is None
        restored[key] = value if takes_none or isinstance(value, str) else _null_to_nan(value)
    return {**record, "inputs": restored}


def load_records(profile: str, results_dir=None) -> dict[str, dict]:
    """Every saved record of a profile, keyed by claim id.

    Read from ``results_dir/claims/PROFILE`` when ``results_dir`` is given, else from the
    profile's folder beside ``$NTKBOOK_CLAIMS_DIR`` (a canonical run). A record that is not
    valid JSON (a truncated file) raises ``ValueError`` naming the file.
    """
    if results_dir is not None:
        folder = Path(results_dir) / "claims" / profile
    elif os.environ.get(CLAIMS_DIR_ENV):
        folder = Path(os.environ[CLAIMS_DIR_ENV]).parent / profile
    else:
        raise ValueError(
            "load_records needs the 'results_dir' parameter (the folder that holds claims/PROFILE/) "
            f"outside a canonical run, where {CLAIMS_DIR_ENV} is not set."
        )
    return {p.stem: _restore_nan(read_json(p)) for p in sorted(folder.glob("*.json"))}


def derived_status(record: dict | None, kind: str | None = None) -> str:
    """The report status of a record, derived again from its saved rule inputs.

    ``kind`` defaults to the registry's kind of the record's claim (records do not carry
    it), so a sanity check reads *passed*/*failed* and a paper claim *reproduced*/*not
    reproduced*.
    """
    if record is None:
        return NOT_RUN
    if kind is None:
        kind = CLAIMS[record["claim_id"]].kind
    return status_of(derive(record["rule_name"], record["inputs"]).verdict, kind)
