"""The publishing workflow (.github/workflows/book.yml) has the steps a user's repository needs:
on a push to main, build the book from the snapshot without executing and deploy it to
GitHub Pages with the official actions; by hand, refresh the snapshot on a GPU runner and
open a pull request. Nothing in it is specific to one machine or one repository.
"""

import re
from pathlib import Path

import pytest
import yaml

from ntkbook.pipeline import paths

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _uses(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _step(job: dict, action: str) -> dict:
    return next(step for step in job["steps"] if step.get("uses", "").startswith(action + "@"))


def test_it_runs_on_a_push_to_main_and_by_hand(workflow):
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in workflow["on"]


def test_the_book_is_published_from_the_snapshot_without_executing(workflow):
    job = workflow["jobs"]["publish"]
    assert job["if"] == "github.event_name == 'push'"
    assert _uses(job)[:2] == ["actions/checkout", "actions/setup-python"]
    assert _step(job, "actions/setup-python")["with"]["python-version"] == "3.11"
    commands = [line.strip() for line in _runs(job).splitlines() if line.strip()]
    assert commands == ["make book"], "the publishing job builds with plain `make book`, which executes nothing"


def test_the_published_folder_is_uploaded_with_the_official_pages_actions(workflow):
    job = workflow["jobs"]["publish"]
    assert _uses(job)[-2:] == ["actions/configure-pages", "actions/upload-pages-artifact"]
    html = paths.book_dirs(paths.SNAPSHOT_PROFILE).html.relative_to(paths.ROOT)
    assert _step(job, "actions/upload-pages-artifact")["with"]["path"] == str(html)


def test_the_deploy_job_deploys_the_artifact_with_the_pages_permissions(workflow):
    job = workflow["jobs"]["deploy"]
    assert job["needs"] == "publish"
    assert job["permissions"] == {"pages": "write", "id-token": "write"}
    assert job["environment"]["name"] == "github-pages"
    assert _uses(job) == ["actions/deploy-pages"]


def test_the_snapshot_is_refreshed_by_hand_on_a_gpu_runner_and_proposed_as_a_pull_request(workflow):
    job = workflow["jobs"]["refresh-snapshot"]
    assert job["if"] == "github.event_name == 'workflow_dispatch'"
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    assert re.search(r"^make book PROFILE=full DEVICE=cuda\b", _runs(job), re.M)
    pr = _step(job, "peter-evans/create-pull-request")
    assert set(pr["with"]["add-paths"].split()) == {"book/executed/full", "book/measured/claims/full"}
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}


def test_the_refreshed_paths_are_where_the_pipeline_writes_the_snapshot():
    assert paths.executed_dir("full").relative_to(paths.ROOT) == Path("book/executed/full")
    assert paths.claims_dir("full").relative_to(paths.ROOT) == Path("book/measured/claims/full")


def test_every_action_is_pinned_to_a_release(workflow):
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_nothing_in_it_names_a_machine_or_a_repository():
    text = WORKFLOW.read_text()
    assert not re.search(r"/(work|root|home|tmp|Users)/[A-Za-z]", text)
    assert "github.com/" not in text, "the repository's address lives in _config.yml (repository.url) only"
