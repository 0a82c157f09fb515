"""The committed full-profile snapshot: stamps that say what a run was made from, where and
when; staleness that names its reason; canonical-run rules that protect the snapshot; and
the size and privacy of what is committed.

The toy tests build their own one-chapter book in a temporary directory; the tests at the
end check the real snapshot in ``book/executed/full/`` (skipped while it is empty).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

from ntkbook.pipeline import cli, notebooks, paths, site, stamps
from ntkbook.pipeline.notebooks import ParameterError

BOOK = Path(__file__).resolve().parent.parent
SNAPSHOT = BOOK / "book" / "executed" / "full"

CHAPTER = textwrap.dedent(
    '''\
    # %% [markdown]
    # # A toy chapter
    #
    # It measured {glue:text}`n_points_seen`.

    # %% tags=["parameters"]
    profile = "full"  # one of ci, full: which profile produced this run
    n_points = 8  # int in [1, inf): the number the claim is checked on
    device = "cpu"  # device: where it computes

    # %%
    from myst_nb import glue
    from ntkbook.claims.registry import record_claim
    from ntkbook.claims.rules import threshold_rule
    record_claim("ntk_psd", threshold_rule(float(n_points), at_most=1e9, what="n"), profile=profile, seeds=1)
    glue("n_points_seen", n_points, display=False)
    print("DEVICE", device)
    '''
)


def point_paths_at(root: Path, monkeypatch) -> None:
    """Point the whole pipeline at the book in ``root``, with the package's fingerprint held
    fixed (the real one changes whenever a source file of the package is edited)."""
    monkeypatch.setattr(notebooks, "package_fingerprint", lambda source: "the toy package")
    for name, value in {
        "ROOT": root, "NOTEBOOK_DIR": root / "notebooks", "PROFILE_DIR": root / "profiles",
        "EXECUTED_DIR": root / "book" / "executed", "MEASURED_DIR": root / "book" / "measured",
        "TOC_PATH": root / "_toc.yml", "CONFIG_PATH": root / "_config.yml", "BUILD_DIR": root / "_build",
        "RESULTS_DIR": root / "results",
    }.items():
        monkeypatch.setattr(paths, name, value)
    monkeypatch.delenv("NTKBOOK_CLAIMS_DIR", raising=False)
    monkeypatch.delenv("NTKBOOK_FORCE", raising=False)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    root = tmp_path / "toy_book"
    (root / "notebooks").mkdir(parents=True)
    (root / "profiles" / "ci").mkdir(parents=True)
    (root / "notebooks" / "toy.py").write_text(CHAPTER)
    (root / "profiles" / "ci" / "toy.yaml").write_text("n_points: 3\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: book/chapters/toy\n")
    point_paths_at(root, monkeypatch)
    return root


def _inputs(**changes) -> stamps.Inputs:
    base = dict(source="s" * 64, parameters={"n_train": 5000, "profile": "full"}, profile="full",
                profile_file="p" * 64, package="k" * 64, depends_on={"book/measured/claims/full/a.json": "a" * 64})
    return stamps.Inputs(**{**base, **changes})


def _stamp(inputs: stamps.Inputs) -> dict:
    return {"fingerprint": inputs.fingerprint(), "inputs": inputs.as_dict()}


# ----------------------------------------------------------------------------- staleness names its reason


def test_a_stamp_whose_inputs_match_gives_no_reason():
    assert stamps.differences(_stamp(_inputs()), _inputs()) == []


def test_a_changed_source_is_named():
    assert stamps.differences(_stamp(_inputs()), _inputs(source="t" * 64)) == ["the chapter's source changed"]


def test_a_changed_parameter_is_named_with_its_old_and_new_value():
    now = _inputs(parameters={"n_train": 2000, "profile": "full"})
    assert stamps.differences(_stamp(_inputs()), now) == ["parameter n_train: 5000 -> 2000"]


def test_a_run_of_another_profile_is_named_as_such_alone():
    assert stamps.differences(_stamp(_inputs(profile="ci", source="t" * 64)), _inputs()) == [
        "it was run with the 'ci' profile, not 'full'"]


def test_a_changed_package_is_named():
    assert stamps.differences(_stamp(_inputs()), _inputs(package="q" * 64)) == ["the ntkbook package changed"]


def test_a_changed_package_names_the_parts_that_changed():
    stamp = {**_stamp(_inputs()), "package_parts": {"plots": "a", "models.py": "b", "ntk": "c"}}
    reasons = stamps.differences(stamp, _inputs(package="q" * 64), {"plots": "z", "models.py": "b", "ntk": "y"})
    assert reasons == ["the ntkbook package changed (ntkbook.ntk, ntkbook.plots)"]


def test_a_changed_file_it_reads_is_named_by_its_path():
    now = _inputs(depends_on={"book/measured/claims/full/a.json": "b" * 64})
    assert stamps.differences(_stamp(_inputs()), now) == ["files it reads changed: book/measured/claims/full/a.json"]


def test_a_stamp_that_records_no_inputs_is_stale_with_a_reason():
    assert stamps.differences({"fingerprint": "abc"}, _inputs()) == ["its stamp predates the stamps that record their inputs"]


def test_placement_parameters_are_not_inputs(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("# %%\n")
    on_cpu = notebooks.run_inputs(source, {"width": 4, "device": "cpu", "threads": 1}, "full", "")
    on_gpu = notebooks.run_inputs(source, {"width": 4, "device": "cuda", "threads": 0}, "full", "")
    assert on_cpu.fingerprint() == on_gpu.fingerprint()


def test_the_size_budget_names_an_oversized_image_and_a_giant_text_output():
    big_png = "A" * int(stamps.MAX_IMAGE_BYTES * 1.5)  # base64 of about 1.1x the budget
    nb = {"cells": [{"outputs": [{"data": {"image/png": big_png}}, {"data": {"text/plain": "1 " * stamps.MAX_TEXT_CHARS}}]}]}
    problems = stamps.oversized(nb, 1000)
    assert len(problems) == 2 and "image/png" in problems[0] and "text/plain" in problems[1]


# ----------------------------------------------------------------------------- the snapshot's rules


def test_an_ad_hoc_run_may_not_replace_the_full_snapshot(toy, monkeypatch, capsys):
    monkeypatch.setattr(notebooks, "_execute", lambda *a, **k: pytest.fail("a kernel was started"))
    assert cli.main(["run", "toy", "--profile", "full", "-p", "n_points", "4"]) == 2
    err = capsys.readouterr().err
    assert "cannot replace the committed full-profile snapshot book/executed/full/toy.ipynb" in err
    assert not (toy / "book" / "executed" / "full").exists()


def test_a_placement_outside_device_and_threads_is_refused(toy):
    with pytest.raises(ParameterError, match="may set only device, threads"):
        notebooks.plan_run("toy", profile="full", placement={"n_points": 4})


def test_building_the_published_book_refuses_options_that_execute(toy, capsys):
    assert cli.main(["book", "--force"]) == 2
    assert "give --profile ci or --profile full" in capsys.readouterr().err


def test_status_lists_each_chapter_of_a_profile_and_counts_them(toy, capsys):
    assert cli.main(["status", "--profile", "full"]) == 0
    out = capsys.readouterr().out
    assert "toy: missing (no full-profile run in book/executed/full)" in out
    assert "full: 0 current, 0 stale, 1 missing of 1 chapters" in out


def test_a_chapter_never_run_is_missing(toy):
    status = notebooks.chapter_status("toy", "full")
    assert status.state == "missing" and status.output == toy / "book" / "executed" / "full" / "toy.ipynb"


@pytest.mark.slow
def test_a_full_run_writes_the_snapshot_with_its_provenance_and_the_committed_claim_record(toy):
    assert cli.main(["run", "toy", "--profile", "full"]) == 0
    out = toy / "book" / "executed" / "full" / "toy.ipynb"
    stamp = json.loads(stamps.stamp_path(out).read_text())
    assert stamp["profile"] == "full" and stamp["canonical"] is True
    assert set(stamp["machine"]) >= {"cpu", "cpus", "torch_threads", "gpu"}
    assert {"commit", "dirty", "seconds", "finished", "inputs", "fingerprint"} <= set(stamp)
    assert stamp["records"] == {"book/measured/claims/full/ntk_psd.json": stamps.sha256_file(
        toy / "book" / "measured" / "claims" / "full" / "ntk_psd.json")}
    assert not (toy / "results" / "claims" / "full").exists()


@pytest.mark.slow
def test_the_executed_notebook_names_no_temporary_path(toy):
    out = notebooks.run_notebook("toy", profile="full", progress=False).output
    meta = json.loads(out.read_text())["metadata"]["papermill"]
    assert meta["input_path"] == "notebooks/toy.py" and meta["output_path"] == "book/executed/full/toy.ipynb"
    assert "ntkbook-run-" not in out.read_text()


@pytest.mark.slow
def test_a_snapshot_is_current_then_stale_naming_the_source_then_current_after_its_rerun(toy):
    notebooks.run_notebook("toy", profile="full", progress=False)
    assert notebooks.chapter_status("toy", "full").state == "current"
    source = toy / "notebooks" / "toy.py"
    source.write_text(CHAPTER.replace("# It measured", "# This time it measured"))
    status = notebooks.chapter_status("toy", "full")
    assert status.state == "stale" and status.reasons == ["the chapter's source changed"]
    assert cli.main(["book", "--profile", "full", "--no-build"]) == 0  # reruns the stale chapter only
    assert notebooks.chapter_status("toy", "full").state == "current"


@pytest.mark.slow
def test_a_claim_record_changed_after_the_run_makes_the_snapshot_stale(toy):
    notebooks.run_notebook("toy", profile="full", progress=False)
    record = toy / "book" / "measured" / "claims" / "full" / "ntk_psd.json"
    record.write_text(record.read_text().replace('"value": 8.0', '"value": 9.0'))
    status = notebooks.chapter_status("toy", "full")
    assert status.state == "stale" and "ntk_psd.json" in status.reasons[0]


@pytest.mark.slow
def test_a_device_placement_keeps_the_run_canonical_is_recorded_and_does_not_make_it_stale(toy):
    result = notebooks.run_notebook("toy", profile="full", progress=False, placement={"device": "cpu"})
    stamp = stamps.read_stamp(result.output)
    assert result.canonical and stamp["placement"] == {"device": "cpu"}
    assert notebooks.chapter_status("toy", "full").state == "current"


# ----------------------------------------------------------------------------- banners and unexecuted pages


def test_the_banner_goes_after_the_first_title_outside_code_fences():
    text = "(label)=\n```python\n# not a title\n```\n# The title\n\nBody"
    assert site.insert_after_title(text, "BANNER") == "(label)=\n```python\n# not a title\n```\n# The title\n\nBANNER\n\nBody"


def test_an_unexecuted_page_shows_placeholders_for_glued_numbers_and_figures_and_keeps_figure_names():
    text = "It took {glue:text}`secs:.1f` s.\n```{glue:figure} fig_a\n:name: fig-a\n\nCaption {glue:text}`run`.\n```"
    done = site.without_glue(text)
    assert "{glue" not in done and done.count(site.NOT_RUN) == 2
    assert f"```{{figure}} {site.PLACEHOLDER_FIGURE}\n:name: fig-a" in done


def test_a_stale_banner_names_the_reasons_and_the_command_that_reruns():
    status = stamps.Status("toy", "full", Path("book/executed/full/toy.ipynb"), "stale",
                           ["the chapter's source changed"], {"profile": "full", "commit": "a" * 40, "seconds": 75,
                                                             "finished": "2026-01-02T03:04:05Z"})
    banner = site.chapter_banner(status, "https://github.com/ada/ntkbook")
    assert "ntkbook-stale" in banner and "the chapter's source changed" in banner
    assert "make book PROFILE=full" in banner and "2026-01-02 03:04 UTC" in banner
    assert "(https://github.com/ada/ntkbook/commit/" + "a" * 40 + ")" in banner


def test_the_published_address_comes_from_the_repository_url():
    assert site.pages_url({"repository": {"url": "https://github.com/Ada/ntkbook"}}) == "https://ada.github.io/ntkbook/"
    assert site.pages_url({"repository": {"url": "https://github.com/ada/ada.github.io"}}) == "https://ada.github.io/"


def test_an_explicit_html_baseurl_wins_over_the_repository_url():
    config = {"repository": {"url": "https://github.com/ada/ntkbook"}, "html": {"baseurl": "https://ntk.example.org"}}
    assert site.pages_url(config) == "https://ntk.example.org/"


def test_the_config_keeps_the_repository_url_in_one_place():
    config = site.read_config(BOOK / "_config.yml")
    assert re.fullmatch(r"https://github\.com/[^/]+/[^/]+", config["repository"]["url"])
    assert not (config.get("html") or {}).get("baseurl"), "html.baseurl is derived from repository.url: set only that"
    assert site.pages_url(config)


# ----------------------------------------------------------------------------- the committed snapshot


def _snapshot_entries() -> list[Path]:
    return sorted(SNAPSHOT.glob("*.ipynb"))


def _need_snapshot():
    if not _snapshot_entries():
        pytest.skip("no full-profile snapshot is committed yet (book/executed/full/ is empty)")


def test_every_snapshot_entry_is_a_chapter_of_the_table_of_contents():
    _need_snapshot()
    extra = {p.stem for p in _snapshot_entries()} - set(notebooks.toc_notebooks())
    assert not extra, f"snapshot entries of no chapter in _toc.yml: {sorted(extra)}"


def test_every_snapshot_entry_is_a_canonical_full_run_with_a_complete_stamp():
    _need_snapshot()
    for nb in _snapshot_entries():
        stamp = stamps.read_stamp(nb)
        assert stamp is not None, f"{nb.name} has no stamp"
        assert stamp.get("profile") == "full" and stamp.get("canonical") is True, f"{nb.name} is not a canonical full run"
        missing = {"inputs", "commit", "machine", "seconds", "finished"} - set(stamp)
        assert not missing, f"the stamp of {nb.name} lacks {sorted(missing)}"


def test_every_snapshot_chapter_is_within_the_size_budget():
    _need_snapshot()
    over = {nb.name: stamps.oversized(json.loads(nb.read_text()), nb.stat().st_size) for nb in _snapshot_entries()}
    over = {k: v for k, v in over.items() if v}
    assert not over, over


def test_the_snapshot_names_no_machine_path():
    _need_snapshot()
    pattern = re.compile(r"/(work|root|home|tmp|Users)/[A-Za-z]")
    for path in sorted(SNAPSHOT.glob("*")) + sorted(SNAPSHOT.glob(".*.stamp.json")):
        found = pattern.findall(path.read_text(errors="ignore"))
        assert not found, f"{path.relative_to(BOOK)} names a machine path"


def test_the_snapshot_notebooks_are_valid_notebooks():
    _need_snapshot()
    for nb in _snapshot_entries():
        nbformat.validate(nbformat.read(nb, as_version=4))


READER = textwrap.dedent(
    '''\
    # ---
    # jupyter:
    #   ntkbook:
    #     depends_on:
    #     - book/executed/{profile}/.*.stamp.json
    # ---

    # %% [markdown]
    # # A chapter that reads the stamps of the others

    # %% tags=["parameters"]
    profile = "full"  # one of ci, full: which profile produced this run
    '''
)


@pytest.mark.slow
def test_a_chapter_that_reads_a_later_chapters_stamp_is_run_again_at_the_end_of_the_pass(toy):
    (toy / "notebooks" / "reader.py").write_text(READER)
    (toy / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                  "- file: book/chapters/reader\n- file: book/chapters/toy\n")
    assert cli.main(["book", "--profile", "ci", "--no-build"]) == 0
    assert [notebooks.chapter_status(s, "ci").state for s in ("reader", "toy")] == ["current", "current"]
    assert list(stamps.read_stamp(toy / "book" / "executed" / "ci" / "reader.ipynb")["inputs"]["depends_on"]) == [
        "book/executed/ci/.toy.stamp.json"]  # the other chapter's stamp, never its own
