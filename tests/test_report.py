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
    for profile_dir in sorted((ROOT / "results" / "claims").glob("*")) if (ROOT / "results" / "claims").exists() else []:
        reproduction_table(profile_dir.name)  # raises ReportError on any record that does not derive
        assert load_records(profile_dir.name)


def test_full_profile_records_saved_with_the_book_all_derive_their_status():
    table = reproduction_table("full", results_dir=ROOT / "book" / "measured")
    assert (table.status != NOT_RUN).sum() >= 20
