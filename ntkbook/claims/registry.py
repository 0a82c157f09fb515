"""The claims the book checks, and the saved record of each check.

``CLAIMS`` lists every claim of the paper (arXiv:2512.08264) and every theory result of
part I that a chapter tests, each with a stable id, the chapter that tests it and where
the claim comes from. A chapter calls :func:`record_claim` with the :class:`Verdict` its
rule computed; the record (the rule's name and inputs, the profile, the seeds, the
measured values) is saved as JSON under ``results/claims/PROFILE/ID.json``.

The reproduction report reads these records back and derives each status again from the
saved inputs with :func:`ntkbook.claims.rules.derive`, so no status is ever typed by hand:
supported -> *reproduced*, not supported -> *not reproduced*, inconclusive ->
*inconclusive*, and no record -> *not run in this profile*.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ntkbook.claims.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Verdict, derive

from ntkbook.pipeline.paths import RESULTS_DIR


@dataclass(frozen=True)
class Claim:
    id: str
    text: str  # the claim as the book tests it
    chapter: str  # the notebook stem that tests it
    source: str  # where it comes from: the paper (and its section/equation) or a theory paper
    kind: str  # "paper" for the paper's own claims, "theory" for the results part I checks


CLAIMS: dict[str, Claim] = {
    c.id: c
    for c in [
        # Part I: theory results the paper builds on
        Claim("ntk_psd", "The empirical NTK is symmetric positive semi-definite.", "01_empirical_ntk", "Jacot et al. 2018 (definition)", "theory"),
        Claim("ntk_methods_agree", "Jacobian contraction, NTK-vector products and structured Gram products give the same NTK.", "01_empirical_ntk", "Novak et al. 2022", "theory"),
        Claim("width_convergence_rate", "The empirical NTK at initialization converges to the analytic NTK with relative error falling like width^(-1/2).", "02_infinite_width", "Arora et al. 2019; Jacot et al. 2018", "theory"),
        Claim("lazy_training", "The relative change of the NTK during training falls as the width grows (the lazy regime).", "02_infinite_width", "Jacot et al. 2018; Lee et al. 2019", "theory"),
        Claim("linearized_dynamics", "A wide network trained by gradient descent follows the linearized (kernel) dynamics, with a gap that shrinks as width grows.", "03_linearized_dynamics", "Lee et al. 2019", "theory"),
        Claim("spectral_bias_rates", "The residual's projection on NTK eigenvector i decays like exp(-eta lambda_i t).", "03_linearized_dynamics", "Rahaman et al. 2019; Jacot et al. 2018", "theory"),
        Claim("generalization_bound", "The bound sqrt(2 y^T H^-1 y / n) upper-bounds the test error of trained wide networks.", "04_generalization_bound", "Arora et al. 2019 (fine-grained analysis)", "theory"),
        # Part II: the paper's claims about its mechanisms
        Claim("ecrn_spectrum_vs_baselines", "At initialization the ECRN's NTK spectrum decays more slowly (larger effective rank) than that of an MLP or plain ResNet of the same width and depth.", "05_architecture", "paper, section III.D", "paper"),
        Claim("alpha_bounds_lambda_max", "The growth of lambda_max during training is bounded by a term proportional to alpha_l^2.", "06_eigenvalue_control", "paper, Eq. (15) (reconstructed)", "paper"),
        Claim("large_alpha_diverges", "Too large an alpha for the depth makes lambda_max explode and training diverge.", "06_eigenvalue_control", "paper, failure signatures", "paper"),
        Claim("fourier_reduces_spectral_bias", "Fourier features reduce spectral bias: the high-frequency component is learned with lower error.", "07_ablation_fourier", "paper, mechanism 1; Tancik et al. 2020", "paper"),
        Claim("fourier_enriches_spectrum", "Fourier features slow the decay of the NTK eigenvalues.", "07_ablation_fourier", "paper, section III.D", "paper"),
        Claim("stochastic_depth_expected_ntk", "Under stochastic depth the expected NTK follows the (1 - p_l)-weighted formula.", "08_ablation_stochastic_depth", "paper, Eq. (17) (reconstructed)", "paper"),
        Claim("stochastic_depth_generalization", "Stochastic depth lowers the test error.", "08_ablation_stochastic_depth", "paper, mechanism 3", "paper"),
        Claim("bscale_underfit_overfit", "Small B-scales underfit and large B-scales overfit (the pattern of Tancik et al. 2020, Figure 4).", "09_ablation_bscale", "paper, break condition of mechanism 1; Tancik et al. 2020", "paper"),
        Claim("width_reduces_kernel_change", "The change of the ECRN's NTK during training falls like width^(-1/2).", "10_width_scaling", "paper, first experiment 3", "paper"),
        # Part III: the paper's benchmark claims
        Claim("synthetic_regression_vs_mlp", "On sinusoid regression the ECRN has lower test MSE than an MLP.", "11_synthetic_benchmarks", "paper, key results", "paper"),
        Claim("synthetic_regression_vs_resnet", "On sinusoid regression the ECRN has lower test MSE than a plain ResNet.", "11_synthetic_benchmarks", "paper, key results", "paper"),
        Claim("synthetic_regression_vs_ntk", "On sinusoid regression the ECRN has lower test MSE than NTK kernel regression.", "11_synthetic_benchmarks", "paper, key results", "paper"),
        Claim("gaussian_mixture_vs_mlp", "On the 5-class Gaussian mixture the ECRN has higher test accuracy than an MLP.", "11_synthetic_benchmarks", "paper, key results", "paper"),
        Claim("uci_boston_vs_mlp", "On Boston Housing the ECRN has lower test MSE than an MLP.", "12_uci", "paper, key results", "paper"),
        Claim("uci_iris_vs_mlp", "On Iris the ECRN has higher test accuracy than an MLP.", "12_uci", "paper, key results", "paper"),
        Claim("uci_wine_vs_mlp", "On Wine the ECRN has higher test accuracy than an MLP.", "12_uci", "paper, key results", "paper"),
        Claim("cifar_accuracy_vs_ntk", "On the CIFAR-10 5k subset the ECRN has higher test accuracy than NTK kernel regression.", "13_cifar10", "paper, key results", "paper"),
        Claim("cifar_cross_entropy_vs_ntk", "On the CIFAR-10 5k subset the ECRN has lower test cross-entropy than NTK kernel regression.", "13_cifar10", "paper, key results", "paper"),
        Claim("cifar_accuracy_vs_resnet18", "On the CIFAR-10 5k subset the ECRN has higher test accuracy than ResNet-18.", "13_cifar10", "paper, key results", "paper"),
    ]
}

STATUS = {SUPPORTED: "reproduced", NOT_SUPPORTED: "not reproduced", INCONCLUSIVE: "inconclusive"}
NOT_RUN = "not run in this profile"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def record_claim(claim_id: str, verdict: Verdict, *, profile: str, seeds: int, values: dict | None = None, results_dir=None) -> Path:
    """Save the check of claim ``claim_id``; returns the path of its JSON record.

    ``values`` holds the measured numbers the chapter wants in the report (means,
    intervals, sizes); the verdict's own rule inputs are always saved.
    """
    if claim_id not in CLAIMS:
        raise ValueError(f"The 'claim_id' must be one of the ids in ntkbook.claims.registry.CLAIMS. Got {claim_id!r} instead.")
    if not verdict.rule_name:
        raise ValueError("record_claim needs a verdict computed by a rule of ntkbook.claims.rules (it carries the rule's inputs).")
    folder = Path(results_dir or RESULTS_DIR) / "claims" / profile
    folder.mkdir(parents=True, exist_ok=True)
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
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".partial")
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh, indent=1)
    path = folder / f"{claim_id}.json"
    os.replace(tmp, path)
    return path


def load_records(profile: str, results_dir=None) -> dict[str, dict]:
    """Every saved record of a profile, keyed by claim id."""
    folder = Path(results_dir or RESULTS_DIR) / "claims" / profile
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def derived_status(record: dict | None) -> str:
    """The report status of a record, derived again from its saved rule inputs."""
    if record is None:
        return NOT_RUN
    return STATUS[derive(record["rule_name"], record["inputs"]).verdict]
