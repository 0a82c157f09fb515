"""The reproduction report derives every status from saved results; none is typed by hand."""

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from ntkbook.claims.registry import CLAIMS, NOT_RUN, load_records, record_claim
from ntkbook.claims.report import ReportError, reproduction_table
from ntkbook.claims.rules import VERDICTS, interval_rule, sign_rule

ROOT = Path(__file__).resolve().parent.parent
STATUS_WORDS = ["reproduced", "not reproduced", "inconclusive", "supported", "not supported", "passed", "failed"]


def test_status_comes_from_the_saved_rule_inputs(tmp_path):
    record_claim("width_convergence_rate", interval_rule(-0.5, -0.6, -0.4, (-0.7, -0.3)), profile="ci", seeds=3, results_dir=tmp_path)
    record_claim("synthetic_regression_vs_mlp", sign_rule(0.2, 0.1, 0.3, expect="negative"), profile="ci", seeds=3, results_dir=tmp_path)
    table = reproduction_table("ci", results_dir=tmp_path).set_index("id")
    assert table.loc["width_convergence_rate", "status"] == "reproduced"
    assert table.loc["synthetic_regression_vs_mlp", "status"] == "not reproduced"


def test_claims_without_a_record_are_not_run_in_this_profile(tmp_path):
    record_claim("ntk_psd", interval_rule(0.0, 0.0, 0.0, (-1, 1)), profile="ci", seeds=1, results_dir=tmp_path)
    table = reproduction_table("ci", results_dir=tmp_path)
    assert len(table) == len(CLAIMS)
    assert (table.status == NOT_RUN).sum() == len(CLAIMS) - 1


def test_a_hand_edited_verdict_is_refused(tmp_path):
    path = record_claim("cifar_accuracy_vs_ntk", sign_rule(-0.1, -0.2, -0.05, expect="positive"), profile="ci", seeds=2, results_dir=tmp_path)
    record = json.loads(path.read_text())
    record["verdict"] = "supported"  # typed by hand: the inputs say "not supported"
    path.write_text(json.dumps(record))
    with pytest.raises(ReportError, match="not what its saved inputs give"):
        reproduction_table("ci", results_dir=tmp_path)


def test_a_record_whose_status_cannot_be_derived_is_refused(tmp_path):
    path = record_claim("ntk_psd", interval_rule(0.0, 0.0, 0.0, (-1, 1)), profile="ci", seeds=1, results_dir=tmp_path)
    record = json.loads(path.read_text())
    del record["inputs"]["expected"]
    path.write_text(json.dumps(record))
    with pytest.raises(ReportError, match="cannot be derived"):
        reproduction_table("ci", results_dir=tmp_path)


def test_record_claim_refuses_an_unknown_id_or_a_typed_verdict(tmp_path):
    from ntkbook.claims.rules import Verdict

    with pytest.raises(ValueError, match="claim_id"):
        record_claim("no_such_claim", interval_rule(0, 0, 0, (-1, 1)), profile="ci", seeds=1, results_dir=tmp_path)
    with pytest.raises(ValueError, match="computed by a rule"):
        record_claim("ntk_psd", Verdict("supported", "trust me", "nothing"), profile="ci", seeds=1, results_dir=tmp_path)


def test_every_claim_names_a_chapter_that_exists():
    stems = {p.stem for p in (ROOT / "notebooks").glob("*.py")}
    missing = {c.id: c.chapter for c in CLAIMS.values() if c.chapter not in stems}
    assert not missing, f"claims whose chapter has no notebook: {missing}"


def test_no_chapter_types_a_status_or_verdict_into_code():
    pattern = re.compile(r"""["'](%s)["']""" % "|".join(re.escape(w) for w in STATUS_WORDS + list(VERDICTS)))
    import jupytext

    for source in sorted((ROOT / "notebooks").glob("*.py")):
        for cell in jupytext.read(source).cells:
            if cell.cell_type == "code":
                hit = pattern.search(cell.source)
                assert hit is None, f"{source.name} types the status {hit.group(0)} in a code cell"


def test_saved_records_of_the_built_book_all_derive_their_status():
    """After `make book`, every record the chapters saved re-derives to its own verdict."""
    results = ROOT / "results"
    for profile_dir in sorted((results / "claims").glob("*")) if (results / "claims").exists() else []:
        reproduction_table(profile_dir.name, results_dir=results)  # raises ReportError on any record that does not derive
        assert load_records(profile_dir.name, results_dir=results)


def test_full_profile_records_saved_with_the_book_all_derive_their_status():
    table = reproduction_table("full", results_dir=ROOT / "book" / "measured")
    assert (table.status != NOT_RUN).sum() >= 20


def test_record_claim_saves_nothing_outside_a_canonical_run(tmp_path, monkeypatch):
    monkeypatch.delenv("NTKBOOK_CLAIMS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert record_claim("ntk_psd", interval_rule(0.0, 0.0, 0.0, (-1, 1)), profile="ci", seeds=1) is None
    assert list(tmp_path.rglob("*.json")) == []


def test_record_claim_saves_into_the_folder_a_canonical_run_names(tmp_path, monkeypatch):
    monkeypatch.setenv("NTKBOOK_CLAIMS_DIR", str(tmp_path / "claims" / "ci"))
    path = record_claim("ntk_psd", interval_rule(0.0, 0.0, 0.0, (-1, 1)), profile="ci", seeds=1)
    assert path == tmp_path / "claims" / "ci" / "ntk_psd.json"
    assert load_records("ci")["ntk_psd"]["verdict"] == "supported"  # read back beside the same folder


def test_load_records_without_a_folder_outside_a_canonical_run_says_what_it_needs(monkeypatch):
    monkeypatch.delenv("NTKBOOK_CLAIMS_DIR", raising=False)
    with pytest.raises(ValueError, match="'results_dir'"):
        load_records("ci")


def test_a_nan_measurement_is_saved_as_strict_json_null_and_read_back_as_nan(tmp_path):
    import math

    path = record_claim("width_convergence_rate", interval_rule(math.nan, -0.6, math.inf, (-0.7, -0.3)), profile="ci",
                        seeds=3, values={"slope": math.nan, "ok": 1.0}, results_dir=tmp_path)

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    record = json.loads(path.read_text(), parse_constant=refuse)  # strict JSON: no NaN, no Infinity
    assert record["inputs"]["estimate"] is None and record["inputs"]["high"] is None and record["values"]["slope"] is None
    loaded = load_records("ci", results_dir=tmp_path)["width_convergence_rate"]
    assert math.isnan(loaded["inputs"]["estimate"]) and math.isnan(loaded["inputs"]["high"])
    table = reproduction_table("ci", results_dir=tmp_path).set_index("id")
    assert table.loc["width_convergence_rate", "status"] == "inconclusive"


def test_a_none_that_a_rule_accepts_stays_none(tmp_path):
    from ntkbook.claims.rules import threshold_rule

    record_claim("ntk_psd", threshold_rule(0.1, at_most=1.0), profile="ci", seeds=1, results_dir=tmp_path)
    assert load_records("ci", results_dir=tmp_path)["ntk_psd"]["inputs"]["at_least"] is None


def test_a_truncated_claim_record_raises_an_error_naming_the_file(tmp_path):
    path = record_claim("ntk_psd", interval_rule(0.0, 0.0, 0.0, (-1, 1)), profile="ci", seeds=1, results_dir=tmp_path)
    path.write_text(path.read_text()[:40])
    with pytest.raises(ValueError, match=r"ntk_psd\.json is not valid JSON"):
        load_records("ci", results_dir=tmp_path)
    with pytest.raises(ReportError, match=r"ntk_psd\.json is not valid JSON"):
        reproduction_table("ci", results_dir=tmp_path)


def test_the_claims_layer_does_not_import_the_pipeline():
    import ast

    for name in ("registry.py", "report.py", "rules.py"):
        tree = ast.parse((ROOT / "ntkbook" / "claims" / name).read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        assert not [m for m in imported if m.startswith("ntkbook.pipeline")], name


# ----------------------------------------------------------------------------- kinds
def test_a_sanity_check_passes_or_fails_and_never_counts_as_reproduced(tmp_path):
    from ntkbook.claims.report import status_counts
    from ntkbook.claims.rules import threshold_rule

    record_claim("ntk_psd", threshold_rule(0.0, at_most=1e-12), profile="ci", seeds=1, results_dir=tmp_path)
    record_claim("ntk_methods_agree", threshold_rule(1.0, at_most=1e-12), profile="ci", seeds=1, results_dir=tmp_path)
    table = reproduction_table("ci", results_dir=tmp_path).set_index("id")
    assert table.loc["ntk_psd", "status"] == "passed" and table.loc["ntk_methods_agree", "status"] == "failed"
    counts = status_counts(table.reset_index())
    assert counts.loc["sanity", "passed"] == 1 and counts.loc["sanity", "failed"] == 1
    assert counts["reproduced"].sum() == 0 and counts["not reproduced"].sum() == 0


def test_the_kind_comes_from_the_registry_not_from_the_record(tmp_path):
    path = record_claim("ntk_psd", interval_rule(0.0, 0.0, 0.0, (-1, 1)), profile="ci", seeds=1, results_dir=tmp_path)
    record = json.loads(path.read_text())
    record["kind"] = "paper"  # a record cannot promote a sanity check into a paper claim
    path.write_text(json.dumps(record))
    row = reproduction_table("ci", results_dir=tmp_path).set_index("id").loc["ntk_psd"]
    assert row["kind"] == "sanity" and row["status"] == "passed"


def test_the_summary_counts_paper_claims_raw_and_adjusted_then_theory_then_open_questions_then_sanity(tmp_path):
    from ntkbook.claims.report import summary_counts

    record_claim("ntk_psd", interval_rule(0.0, 0.0, 0.0, (-1, 1)), profile="ci", seeds=1, results_dir=tmp_path)
    summary = summary_counts(reproduction_table("ci", results_dir=tmp_path))
    assert list(summary.index) == ["paper claims (raw)", "paper claims (Holm-adjusted)", "theory results",
                                   "open questions (beyond the paper)", "sanity checks"]
    n_paper = sum(c.kind == "paper" for c in CLAIMS.values())
    assert summary.loc["paper claims (raw)"].sum() == n_paper == summary.loc["paper claims (Holm-adjusted)"].sum()
    assert summary.loc["sanity checks", "passed"] == 1


# ----------------------------------------------------------------------------- multiplicity (Holm)
REPRODUCED_PAPER = ["uci_boston_vs_mlp", "uci_iris_vs_mlp", "uci_wine_vs_mlp", "synthetic_regression_vs_mlp"]


def _reproduced(claim_id, tmp_path, p_value):
    expect = "negative" if "mse" in CLAIMS[claim_id].text.lower() else "positive"
    low, high = (-2.0, -1.0) if expect == "negative" else (1.0, 2.0)
    record_claim(claim_id, sign_rule((low + high) / 2, low, high, expect=expect), profile="ci", seeds=10,
                 p_value=p_value, results_dir=tmp_path)


def test_holm_turns_a_decided_claim_inconclusive_when_its_adjusted_p_value_exceeds_the_level(tmp_path):
    # the worked example of chapter 14: p = 0.01, 0.02, 0.03, 0.20 -> Holm 0.04, 0.06, 0.06, 0.20
    for claim_id, p in zip(REPRODUCED_PAPER, [0.01, 0.02, 0.03, 0.20]):
        _reproduced(claim_id, tmp_path, p)
    table = reproduction_table("ci", results_dir=tmp_path).set_index("id").loc[REPRODUCED_PAPER]
    assert list(table.status) == ["reproduced"] * 4  # each claim's own rule
    assert list(table.p_holm) == pytest.approx([0.04, 0.06, 0.06, 0.20])
    assert list(table.adjusted) == ["reproduced", "inconclusive", "inconclusive", "inconclusive"]
    assert set(table.test) == {"Holm over 4"}


def test_a_not_reproduced_claim_also_becomes_inconclusive_when_its_test_does_not_survive(tmp_path):
    record_claim("uci_boston_vs_mlp", sign_rule(1.0, 0.5, 1.5, expect="negative"), profile="ci", seeds=10,
                 p_value=0.03, results_dir=tmp_path)
    _reproduced("uci_iris_vs_mlp", tmp_path, 0.04)
    row = reproduction_table("ci", results_dir=tmp_path).set_index("id").loc["uci_boston_vs_mlp"]
    assert row["status"] == "not reproduced" and row["p_holm"] == pytest.approx(0.06) and row["adjusted"] == "inconclusive"


def test_a_claim_without_a_p_value_keeps_its_status_and_reads_no_test(tmp_path):
    from ntkbook.claims.report import format_p

    _reproduced("uci_boston_vs_mlp", tmp_path, None)
    _reproduced("uci_iris_vs_mlp", tmp_path, 0.5)
    table = reproduction_table("ci", results_dir=tmp_path).set_index("id")
    row = table.loc["uci_boston_vs_mlp"]
    assert row["adjusted"] == row["status"] == "reproduced" and row["test"] == "no test"
    assert format_p(row["p_value"], row["test"]) == "no test" and format_p(row["p_holm"], row["test"]) == "no test"
    assert table.loc["uci_iris_vs_mlp", "test"] == "Holm over 1"  # the family counts only claims with a p-value


def test_theory_results_and_sanity_checks_are_outside_the_family(tmp_path):
    record_claim("width_convergence_rate", interval_rule(-0.5, -0.6, -0.4, (-0.7, -0.3)), profile="ci", seeds=3,
                 p_value=0.5, results_dir=tmp_path)
    _reproduced("uci_iris_vs_mlp", tmp_path, 0.03)
    table = reproduction_table("ci", results_dir=tmp_path).set_index("id")
    theory = table.loc["width_convergence_rate"]
    assert theory["adjusted"] == "reproduced" and theory["test"] == "not adjusted" and math.isnan(theory["p_holm"])
    assert table.loc["uci_iris_vs_mlp", "p_holm"] == pytest.approx(0.03)  # a family of one: unadjusted


def test_inconclusive_vacuous_and_not_run_are_never_changed_by_the_correction():
    from ntkbook.claims.report import adjusted_status

    for status in ["inconclusive", "vacuous", NOT_RUN, "passed", "failed"]:
        assert adjusted_status(status, 0.9) == status
    assert adjusted_status("reproduced", float("nan")) == "reproduced"
    assert adjusted_status("reproduced", 0.05) == "reproduced"  # at the level: kept; above it: inconclusive
    assert adjusted_status("reproduced", 0.0500001) == "inconclusive"


def test_a_saved_p_value_outside_zero_one_is_refused(tmp_path):
    path = record_claim("uci_iris_vs_mlp", sign_rule(1.0, 0.5, 2.0, expect="positive"), profile="ci", seeds=3,
                        p_value=0.2, results_dir=tmp_path)
    record = json.loads(path.read_text())
    record["p_value"] = 2.0
    path.write_text(json.dumps(record))
    with pytest.raises(ReportError, match="p-value of claim 'uci_iris_vs_mlp'"):
        reproduction_table("ci", results_dir=tmp_path)


def test_the_report_shows_each_models_own_metric_with_its_interval(tmp_path):
    from ntkbook.claims.registry import model_metrics

    record_claim("uci_iris_vs_mlp", sign_rule(0.05, 0.01, 0.09, expect="positive"), profile="ci", seeds=3,
                 values=model_metrics("test accuracy", {"ECRN": (0.95, 0.93, 0.97), "MLP": (0.9, 0.88, 0.92)}),
                 results_dir=tmp_path)
    row = reproduction_table("ci", results_dir=tmp_path).set_index("id").loc["uci_iris_vs_mlp"]
    assert row["models"] == "test accuracy: ECRN: 0.95 [0.93, 0.97]; MLP: 0.9 [0.88, 0.92]"


def test_old_records_without_kind_or_p_value_still_derive_and_read_no_test():
    """The full-profile records saved with the book predate kinds and p-values."""
    measured = ROOT / "book" / "measured"
    table = reproduction_table("full", results_dir=measured).set_index("id")
    for claim_id, record in load_records("full", results_dir=measured).items():
        if "p_value" not in record:
            assert table.loc[claim_id, "test"] in ("no test", "not adjusted")
            assert table.loc[claim_id, "adjusted"] == table.loc[claim_id, "status"]
    assert table.loc["ntk_psd", "status"] in ("passed", "failed", "inconclusive")


# ----------------------------------------------------------------------------- the readable report
def test_seeds_are_integers_and_missing_where_a_claim_was_not_run(tmp_path):
    record_claim("ntk_psd", interval_rule(0.0, 0.0, 0.0, (-1, 1)), profile="ci", seeds=10, results_dir=tmp_path)
    table = reproduction_table("ci", results_dir=tmp_path).set_index("id")
    assert str(table.seeds.dtype) == "Int64" and table.loc["ntk_psd", "seeds"] == 10
    assert table.loc["ntk_methods_agree", "seeds"] is pd.NA


def test_an_open_question_holds_or_does_not_hold_and_is_never_counted_as_reproduced(tmp_path):
    from ntkbook.claims.report import status_counts

    record_claim("attention_width_reduces_kernel_change", sign_rule(-0.5, -0.7, -0.3, expect="negative"), profile="ci",
                 seeds=3, results_dir=tmp_path)
    record_claim("ecrn_lambda_max_depth_growth", sign_rule(0.5, 0.3, 0.7, expect="negative"), profile="ci", seeds=3,
                 results_dir=tmp_path)
    table = reproduction_table("ci", results_dir=tmp_path)
    rows = table.set_index("id")
    assert rows.loc["attention_width_reduces_kernel_change", "adjusted"] == "holds"
    assert rows.loc["ecrn_lambda_max_depth_growth", "adjusted"] == "does not hold"
    counts = status_counts(table)
    assert counts.loc["beyond", "holds"] == 1 and counts.loc["beyond", "does not hold"] == 1
    assert counts.loc["beyond", "reproduced"] == 0


def test_grouped_orders_the_claims_by_kind_then_by_the_chapters_order_in_the_book(tmp_path):
    from ntkbook.claims.registry import KINDS
    from ntkbook.claims.report import grouped

    table = grouped(reproduction_table("ci", results_dir=tmp_path))
    kinds = list(table.kind)
    assert kinds == sorted(kinds, key=KINDS.index)
    chapters = list(dict.fromkeys(c.chapter for c in CLAIMS.values()))
    paper = [chapters.index(c) for c in table[table.kind == "paper"].chapter]
    assert paper == sorted(paper)


def test_kind_summary_counts_each_status_a_claim_has_with_the_kinds_total(tmp_path):
    from ntkbook.claims.report import kind_summary

    record_claim("ntk_psd", interval_rule(0.0, 0.0, 0.0, (-1, 1)), profile="ci", seeds=1, results_dir=tmp_path)
    summary = kind_summary(reproduction_table("ci", results_dir=tmp_path))
    assert list(summary) == ["paper", "theory", "beyond", "sanity"]
    assert summary["sanity"] == {"total": 2, "passed": 1, NOT_RUN: 1}
    assert summary["paper"] == {"total": sum(c.kind == "paper" for c in CLAIMS.values()), NOT_RUN: summary["paper"]["total"]}


def test_a_status_badge_shows_its_word_on_its_colour():
    from ntkbook.plots.report import STATUS_COLORS, status_badge

    badge = status_badge("not reproduced", 5)
    assert STATUS_COLORS["not reproduced"] in badge and ">not reproduced&nbsp;5</span>" in badge
    assert ">not run</span>" in status_badge(NOT_RUN)
    assert all(status in STATUS_COLORS for status in ["holds", "does not hold", "passed", "failed", "vacuous"])


def test_the_report_table_links_each_chapter_and_prints_seeds_as_integers(tmp_path):
    from ntkbook.claims.report import grouped
    from ntkbook.plots.report import report_html

    record_claim("uci_iris_vs_mlp", sign_rule(0.05, 0.01, 0.09, expect="positive"), profile="ci", seeds=10,
                 p_value=0.01, results_dir=tmp_path)
    table = grouped(reproduction_table("ci", results_dir=tmp_path))
    page = report_html(table[table.kind == "paper"], {"12_uci": ("UCI benchmarks", "12_uci.html")})
    assert '<a href="12_uci.html">UCI benchmarks</a>' in page
    assert "<td>10</td>" in page and "10.0" not in page
    assert page.count('class="ntkbook-report-chapter"') == len(set(table[table.kind == "paper"].chapter))
    assert ">13_cifar10</th>" in page  # a chapter without a page is named by its stem, unlinked


def test_the_report_shows_the_raw_status_beside_a_badge_the_correction_changed(tmp_path):
    from ntkbook.plots.report import report_html

    for claim_id, p in zip(REPRODUCED_PAPER[:2], [0.04, 0.03]):
        _reproduced(claim_id, tmp_path, p)  # Holm: 0.06 and 0.06 -> both inconclusive
    table = reproduction_table("ci", results_dir=tmp_path).set_index("id").loc[REPRODUCED_PAPER[:1]].reset_index()
    page = report_html(table)
    assert ">inconclusive</span><br><small>raw: " in page and ">reproduced</span>" in page
