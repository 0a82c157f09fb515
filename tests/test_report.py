"""The reproduction report derives every status from saved results; none is typed by hand."""

import json
import re
from pathlib import Path

import pytest

from ntkbook.claims.registry import CLAIMS, NOT_RUN, load_records, record_claim
from ntkbook.claims.report import ReportError, reproduction_table
from ntkbook.claims.rules import VERDICTS, interval_rule, sign_rule

ROOT = Path(__file__).resolve().parent.parent
STATUS_WORDS = ["reproduced", "not reproduced", "inconclusive", "supported", "not supported"]


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
