"""The claims the book checks, and the saved record of each check.

``CLAIMS`` lists every claim of the paper (arXiv:2512.08264) and every theory result of
part I that a chapter tests, each with a stable id, the chapter that tests it and where
the claim comes from. A chapter calls :func:`record_claim` with the :class:`Verdict` its
rule computed; the record (the rule's name and inputs, the profile, the seeds, the
measured values) is saved as ``ID.json`` in the claims folder of the run's profile.

Only a canonical run of a chapter saves records, so that an ad-hoc run never overwrites
what the report reads: the pipeline names the folder in ``NTKBOOK_CLAIMS_DIR`` for such a
run alone, and :func:`record_claim` without an explicit ``results_dir`` saves nothing when
that variable is unset. This module never asks where the repository is: the folder comes
from the caller or from the environment. Records are strict JSON: a NaN or infinite
number is saved as ``null`` and read back by :func:`load_records` as NaN wherever the
rule takes a number.

The reproduction report reads these records back and derives each status again from the
saved inputs with :func:`ntkbook.claims.rules.derive`, so no status is ever typed by hand:
supported -> *reproduced*, not supported -> *not reproduced*, inconclusive ->
*inconclusive*, and no record -> *not run in this profile*.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ntkbook._io import read_json, write_json
from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, RULES, SUPPORTED, VACUOUS, Verdict, derive

CLAIMS_DIR_ENV = "NTKBOOK_CLAIMS_DIR"  # set by the pipeline for a canonical run only


@dataclass(frozen=True)
class Claim:
    """One claim, worded once: the chapter's box and the report both read it from here."""

    id: str
    text: str  # the claim, as the paper or the theory paper makes it
    chapter: str  # the notebook stem that tests it
    source: str  # where it comes from: the paper (and its section/equation) or a theory paper
    kind: str  # "paper" for the paper's own claims, "theory" for the results part I checks
    tested_as: str = ""  # the testable form the chapter checks, where it is narrower than the text

    @property
    def wording(self) -> str:
        """The claim as its box shows it: the text, then "(tested as: ...)" when there is one."""
        if not self.tested_as:
            return self.text
        return f"{self.text.rstrip('.')} (tested as: {self.tested_as})."


CLAIMS: dict[str, Claim] = {
    c.id: c
    for c in [
        # Part I: theory results the paper builds on
        Claim("ntk_psd", "The empirical NTK is a symmetric positive semi-definite matrix.", "01_empirical_ntk", "the definition Theta = J J^T (Jacot et al. 2018)", "theory"),
        Claim("ntk_methods_agree", "The Jacobian contraction, NTK-vector products and the structured layerwise rule give the same NTK.", "01_empirical_ntk", "Novak, Sohl-Dickstein and Schoenholz 2022 (all three compute J J^T exactly)", "theory"),
        Claim("width_convergence_rate", "The empirical NTK at initialization converges to the analytic NTK, with relative error falling like width^(-1/2).", "02_infinite_width", "Jacot et al. 2018; Arora et al. 2019 (convergence at initialization)", "theory"),
        Claim("lazy_training", "The relative change of the NTK during training falls as the width grows (the lazy regime).", "02_infinite_width", "Jacot et al. 2018; Lee et al. 2019", "theory"),
        Claim("linearized_dynamics", "A wide network trained by gradient descent follows the linearized (kernel) dynamics, with a gap that shrinks as width grows.", "03_linearized_dynamics", "Lee et al. 2019", "theory"),
        Claim("spectral_bias_rates", "The residual's projection on NTK eigenvector i decays like exp(-eta lambda_i t / n) (book loss 1/(2n) sum r^2).", "03_linearized_dynamics", "Rahaman et al. 2019; Jacot et al. 2018", "theory"),
        Claim("generalization_bound", "The bound sqrt(2 y^T H^-1 y / n) + sqrt(log(n / (lambda_0 delta)) / n) (plus the final training loss) upper-bounds the test loss of trained wide two-layer relu networks.", "04_generalization_bound", "Arora, Du, Hu, Li and Wang 2019 (fine-grained analysis), Theorem 5.1; the paper's Eq. (8) (reconstruction)", "theory"),
        # Part II: the paper's claims about its mechanisms
        Claim("ecrn_spectrum_vs_baselines", "At initialization the ECRN's NTK spectrum decays more slowly (larger effective rank) than that of an MLP or a plain ResNet of the same width and depth.", "05_architecture", "the paper, section III.D (reconstruction of the architecture, Eq. (13))", "paper"),
        Claim("alpha_bounds_lambda_max", "The growth of lambda_max during training is bounded by a term proportional to alpha_l^2.", "06_eigenvalue_control", "the paper, Eq. (15) (reconstructed as G <= G_0 + C sum_l alpha_l^2)", "paper",
              tested_as="the excess growth scales like alpha^2"),
        Claim("large_alpha_diverges", "Too large an alpha for the depth makes lambda_max explode and training diverge.", "06_eigenvalue_control", "the paper, failure signatures of mechanism 2", "paper"),
        Claim("fourier_reduces_spectral_bias", "Fourier features reduce spectral bias: the high-frequency component is learned with lower error.", "07_ablation_fourier", "the paper, mechanism 1 (section III.D); Tancik et al. 2020", "paper"),
        Claim("fourier_enriches_spectrum", "Fourier features slow the decay of the NTK eigenvalues.", "07_ablation_fourier", "the paper, section III.D", "paper"),
        Claim("stochastic_depth_expected_ntk", "Under stochastic depth the expected NTK follows the (1 - p_l)-weighted formula.", "08_ablation_stochastic_depth", "the paper, Eq. (17) (reconstructed)", "paper",
              tested_as="the expected NTK equals the NTK with every branch scaled by alpha_l sqrt(1 - p_l), our reconstruction of the formula"),
        Claim("stochastic_depth_generalization", "Stochastic depth lowers the test error.", "08_ablation_stochastic_depth", "the paper, mechanism 3 (section IV.B)", "paper"),
        Claim("bscale_underfit_overfit", "Small B-scales underfit and large B-scales overfit (the pattern of Tancik et al. 2020, Figure 4).", "09_ablation_bscale", "the paper, break condition of mechanism 1; Tancik et al. 2020", "paper"),
        Claim("width_reduces_kernel_change", "The change of the ECRN's NTK during training falls like width^(-1/2).", "10_width_scaling", "the paper, first experiments (3: width scaling); rate of Jacot et al. 2018 and Lee et al. 2019", "paper"),
        # Part III: the paper's benchmark claims
        Claim("synthetic_regression_vs_mlp", "On sinusoid regression the ECRN has lower test MSE than an MLP.", "11_synthetic_benchmarks", "arXiv:2512.08264, key results (synthetic regression); setup reconstructed", "paper"),
        Claim("synthetic_regression_vs_resnet", "On sinusoid regression the ECRN has lower test MSE than a plain ResNet.", "11_synthetic_benchmarks", "arXiv:2512.08264, key results (synthetic regression); setup reconstructed", "paper"),
        Claim("synthetic_regression_vs_ntk", "On sinusoid regression the ECRN has lower test MSE than NTK kernel regression.", "11_synthetic_benchmarks", "arXiv:2512.08264, key results (synthetic regression); setup reconstructed", "paper"),
        Claim("gaussian_mixture_vs_mlp", "On the 5-class Gaussian mixture the ECRN has higher test accuracy than an MLP.", "11_synthetic_benchmarks", "arXiv:2512.08264, key results (synthetic classification); setup reconstructed", "paper"),
        Claim("uci_boston_vs_mlp", "On Boston Housing the ECRN has lower test MSE than an MLP.", "12_uci", "arXiv:2512.08264, key results (UCI); setup reconstructed", "paper"),
        Claim("uci_iris_vs_mlp", "On Iris the ECRN has higher test accuracy than an MLP.", "12_uci", "arXiv:2512.08264, key results (UCI); setup reconstructed", "paper"),
        Claim("uci_wine_vs_mlp", "On Wine the ECRN has higher test accuracy than an MLP.", "12_uci", "arXiv:2512.08264, key results (UCI); setup reconstructed", "paper"),
        Claim("cifar_accuracy_vs_ntk", "On the CIFAR-10 5k subset the ECRN has higher test accuracy than NTK kernel regression.", "13_cifar10", "arXiv:2512.08264, key results (CIFAR-10 subset); setup reconstructed", "paper"),
        Claim("cifar_cross_entropy_vs_ntk", "On the CIFAR-10 5k subset the ECRN has lower test cross-entropy than NTK kernel regression.", "13_cifar10", "arXiv:2512.08264, key results (CIFAR-10 subset); setup reconstructed", "paper"),
        Claim("cifar_accuracy_vs_resnet18", "On the CIFAR-10 5k subset the ECRN has higher test accuracy than ResNet-18.", "13_cifar10", "arXiv:2512.08264, key results (CIFAR-10 subset); setup reconstructed", "paper"),
    ]
}

STATUS = {SUPPORTED: "reproduced", NOT_SUPPORTED: "not reproduced", INCONCLUSIVE: "inconclusive", VACUOUS: "vacuous"}
NOT_RUN = "not run in this profile"


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


def _claims_folder(profile: str, results_dir) -> Path | None:
    """``results_dir/claims/PROFILE`` if ``results_dir`` is given, else ``$NTKBOOK_CLAIMS_DIR``, else None."""
    if results_dir is not None:
        return Path(results_dir) / "claims" / profile
    folder = os.environ.get(CLAIMS_DIR_ENV)
    return Path(folder) if folder else None


def record_claim(claim_id: str, verdict: Verdict, *, profile: str, seeds: int, values: dict | None = None,
                 results_dir=None) -> Path | None:
    """Save the check of claim ``claim_id``; returns the path of its JSON record, or None.

    The record goes to ``results_dir/claims/PROFILE/ID.json`` when ``results_dir`` is
    given, else to ``$NTKBOOK_CLAIMS_DIR/ID.json`` when the pipeline set that variable (a
    canonical run), else nowhere: an ad-hoc run (``-p`` overrides, another output, a sweep,
    plain papermill) still shows its box but never overwrites the records the report
    reads, and None is returned.

    ``values`` holds the measured numbers the chapter wants in the report (means,
    intervals, sizes); the verdict's own rule inputs are always saved. NaN and infinite
    numbers are saved as ``null``.
    """
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


def derived_status(record: dict | None) -> str:
    """The report status of a record, derived again from its saved rule inputs."""
    if record is None:
        return NOT_RUN
    return STATUS[derive(record["rule_name"], record["inputs"]).verdict]
