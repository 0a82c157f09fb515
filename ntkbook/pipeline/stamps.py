"""Stamps: what an executed notebook was made from, where, and whether it still matches.

Beside every executed notebook ``NAME.ipynb`` the pipeline writes ``.NAME.stamp.json``:

* ``inputs``: everything the output depends on, each part hashed on its own (the source,
  the effective parameters, the profile and its file, the ``ntkbook`` modules the chapter
  imports directly or through each other (:func:`ntkbook._fingerprint.modules_read_by`), the files
  the notebook declares in ``depends_on``, whether the run was canonical), and
  ``fingerprint``, the hash of them all, which decides whether a run is up to date;
* ``records``: the claim records the run saved, with their hashes;
* ``package_parts``: a hash per package file the chapter imports, so that a stamp made
  stale by a change to the package can say which modules changed;
* the run's provenance, for the page banner: ``commit`` (and ``dirty`` when the sources
  differed from it), ``machine`` (CPU model, cores, torch threads, GPU if any), ``placement``
  (the device it ran on), ``seconds`` of wall time, ``finished`` (UTC), ``profile``.

Because each input is kept separately, a stale stamp names what changed
(:func:`differences`): "the chapter's source changed", "parameter n_train: 5000 -> 2000",
"the ntkbook package changed", "book/measured/claims/full/x.json changed". Placement
parameters (:data:`PLACEMENT`: ``device``, ``threads``) say where and how fast a run
computes, not what; they are recorded but are not inputs, so a snapshot made on a GPU is
current on a laptop.

Paths in a stamp are relative to the book root, so a committed stamp means the same in
every checkout.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ntkbook import _io
from ntkbook.pipeline import paths

PLACEMENT = ("device", "threads")  # parameters that choose where a run computes, not what
MAX_NAMED = 4  # how many changed parameters or files a reason names before "and N more"
STAMP_VERSION = 2  # stamps without "inputs" (version 1) name no reason; they are simply stale

# What one executed chapter may weigh (the snapshot is committed): figures are PNG
# outputs of a few hundred kB; anything much larger is a figure at an absurd dpi or an
# array printed in full.
MAX_NOTEBOOK_BYTES = 4_000_000
MAX_IMAGE_BYTES = 1_500_000
MAX_TEXT_CHARS = 100_000


# ----------------------------------------------------------------------------- inputs


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    try:
        return sha256_bytes(Path(path).read_bytes())
    except (FileNotFoundError, IsADirectoryError):
        return None


@dataclass(frozen=True)
class Inputs:
    """Everything an executed notebook depends on, part by part."""

    source: str  # sha256 of the jupytext source
    parameters: dict[str, Any]  # the effective parameters, placement left out
    profile: str
    profile_file: str  # sha256 of the profile's override file ("" hashed when there is none)
    package: str  # ntkbook._fingerprint.package_fingerprint(source): the modules it imports
    depends_on: dict[str, str] = field(default_factory=dict)  # root-relative path -> sha256
    canonical: bool = True

    def fingerprint(self) -> str:
        return sha256_bytes(json.dumps(asdict(self), sort_keys=True, default=str).encode())

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))


def without_placement(parameters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in parameters.items() if k not in PLACEMENT}


def depends_on_files(patterns: list[str], profile: str, exclude: tuple[Path, ...] = ()) -> dict[str, str]:
    """Hashes of the files matched by a notebook's ``depends_on`` globs (relative to the
    book root, ``{profile}`` replaced), leaving out ``exclude`` (the run's own stamp)."""
    skip = {Path(os.path.abspath(p)) for p in exclude}
    found: dict[str, str] = {}
    for pattern in patterns or []:
        for path in sorted(paths.ROOT.glob(pattern.format(profile=profile))):
            if path.is_file() and Path(os.path.abspath(path)) not in skip:
                found[paths.display_path(path)] = sha256_file(path)
    return found


def package_parts(source: Path) -> dict[str, str]:
    """A hash per package file the notebook ``source`` can import (``models.py``,
    ``ntk/empirical.py``, ...): not an input, only what lets a stale stamp say which module changed."""
    from ntkbook._fingerprint import modules_read_by

    return modules_read_by(source)


def _changed_parts(old: dict, new: dict) -> str:
    names = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
    modules = [n.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for n in names]
    return f" (ntkbook.{', ntkbook.'.join(modules)})" if names else ""


def differences(stamp: dict | None, now: Inputs, parts: dict[str, str] | None = None) -> list[str]:
    """Why a stamp no longer matches ``now``, in words (empty when its inputs match);
    ``parts`` (:func:`package_parts` of today) names the parts of a changed package."""
    if not stamp:
        return ["no stamp"]
    recorded = stamp.get("inputs")
    if not isinstance(recorded, dict):
        return ["its stamp predates the stamps that record their inputs"]
    if recorded.get("profile") != now.profile:
        return [f"it was run with the {recorded.get('profile')!r} profile, not {now.profile!r}"]
    reasons = []
    if recorded.get("source") != now.source:
        reasons.append("the chapter's source changed")
    old, new = recorded.get("parameters") or {}, now.parameters
    changed = [f"parameter {key}: {old.get(key, '(absent)')!r} -> {new.get(key, '(absent)')!r}"
               for key in sorted(set(old) | set(new)) if old.get(key, "(absent)") != new.get(key, "(absent)")]
    reasons += changed[:MAX_NAMED] + ([f"{len(changed) - MAX_NAMED} more parameters"] if len(changed) > MAX_NAMED else [])
    if recorded.get("profile_file") != now.profile_file:
        reasons.append(f"the {now.profile} profile's override file for it changed")
    if recorded.get("package") != now.package:
        recorded_parts = stamp.get("package_parts")
        named = _changed_parts(recorded_parts, parts) if isinstance(recorded_parts, dict) and parts else ""
        reasons.append(f"the ntkbook package changed{named}")
    old_dep, new_dep = recorded.get("depends_on") or {}, now.depends_on
    changed = sorted(p for p in set(old_dep) | set(new_dep) if old_dep.get(p) != new_dep.get(p))
    if changed:
        shown = ", ".join(changed[:MAX_NAMED]) + (f" and {len(changed) - MAX_NAMED} more" if len(changed) > MAX_NAMED else "")
        reasons.append(f"files it reads changed: {shown}")
    if recorded.get("canonical", True) != now.canonical:
        reasons.append("it was an ad-hoc run" if now.canonical else "it was a canonical run")
    if not reasons and stamp.get("fingerprint") != now.fingerprint():
        reasons.append("its fingerprint differs")  # a field this version does not compare
    return reasons


def records_changed(stamp: dict | None) -> list[str]:
    """The claim records a stamped run saved that are gone or changed since (root-relative)."""
    records = (stamp or {}).get("records") or {}
    return sorted(p for p, digest in records.items() if sha256_file(paths.from_display(p)) != digest)


def record_hashes(files: dict[str, str]) -> dict[str, str]:
    """``{path: sha256}`` with the paths made root-relative (portable in a committed stamp)."""
    return {paths.display_path(p): digest for p, digest in files.items()}


# ----------------------------------------------------------------------------- stamps


def stamp_path(output: Path) -> Path:
    return Path(output).with_name(f".{Path(output).stem}.stamp.json")


def read_stamp(output: Path) -> dict | None:
    """The stamp beside ``output``, or None when it is missing, a link or not JSON."""
    stamp = stamp_path(output)
    if not stamp.is_file() or stamp.is_symlink():
        return None
    try:
        data = _io.read_json(stamp)
    except ValueError:
        return None  # a truncated stamp
    return data if isinstance(data, dict) else None


# ----------------------------------------------------------------------------- provenance


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5).stdout.strip() or platform.machine()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> dict[str, Any]:
    """What a run executes on: CPU model and cores, torch's thread count, the GPU if any."""
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": None,
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def checkout() -> dict[str, Any]:
    """The commit of the book root's checkout and whether the files that make the chapters
    (notebooks, package, profiles) differ from it; ``None`` outside a git checkout."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(paths.ROOT), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--", "notebooks", "ntkbook", "profiles")
    return {"commit": commit, "dirty": bool(status)}


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def describe_machine(stamp: dict) -> str:
    """One line: "Intel Xeon ... (16 cores, 16 torch threads), GPU NVIDIA H200 (device cuda)"."""
    m = stamp.get("machine") or {}
    text = f"{m.get('cpu') or 'unknown CPU'} ({m.get('cpus')} cores, {m.get('torch_threads')} torch threads)"
    device = (stamp.get("placement") or {}).get("device") or (stamp.get("parameters") or {}).get("device")
    if m.get("gpu"):
        used = f"device {device}" if device else "no device parameter"
        text += f", GPU {m['gpu']} ({used})"
    return text


# ----------------------------------------------------------------------------- the executed notebook


def sanitize(nb: dict, stem: str, output: Path) -> dict:
    """The executed notebook with the run's private temporary paths replaced by the book's
    own names (papermill records where it read and wrote: a private folder in /tmp)."""
    meta = nb.get("metadata", {}).get("papermill")
    if isinstance(meta, dict):
        meta["input_path"] = f"notebooks/{stem}.py"
        meta["output_path"] = paths.display_path(output)
        meta.pop("environment_variables", None)
    return nb


def oversized(nb: dict, size_bytes: int) -> list[str]:
    """What breaks the size budget of an executed chapter, in words (empty: within it)."""
    problems = []
    if size_bytes > MAX_NOTEBOOK_BYTES:
        problems.append(f"the notebook is {size_bytes / 1e6:.1f} MB (budget {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB)")
    for i, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            for mime, value in (output.get("data") or {}).items():
                text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else json.dumps(value)
                if "image/" in mime and not mime.endswith("svg+xml"):
                    n = len(base64.b64decode(text)) if text else 0
                    if n > MAX_IMAGE_BYTES:
                        problems.append(f"cell {i}: a {mime} output of {n / 1e6:.1f} MB (budget {MAX_IMAGE_BYTES / 1e6:.1f} MB)")
                elif len(text) > MAX_TEXT_CHARS:
                    problems.append(f"cell {i}: a {mime} output of {len(text):,} characters (budget {MAX_TEXT_CHARS:,})")
            text = output.get("text")
            text = "".join(text) if isinstance(text, list) else text or ""
            if len(text) > MAX_TEXT_CHARS:
                problems.append(f"cell {i}: a stream output of {len(text):,} characters (budget {MAX_TEXT_CHARS:,})")
    return problems


# ----------------------------------------------------------------------------- status


@dataclass
class Status:
    """Whether a chapter's executed notebook in a profile's folder matches the current inputs."""

    stem: str
    profile: str
    output: Path
    state: str  # "current", "stale" or "missing"
    reasons: list[str] = field(default_factory=list)
    stamp: dict | None = None

    def line(self) -> str:
        if self.state == "missing":
            return f"{self.stem}: missing (no {self.profile}-profile run in {paths.display_path(self.output.parent)})"
        s = self.stamp or {}
        made = f"commit {(s.get('commit') or 'unknown')[:12]}{' (dirty)' if s.get('dirty') else ''}, {s.get('finished', 'unknown date')}"
        took = f", {s['seconds']:.0f} s" if isinstance(s.get("seconds"), (int, float)) else ""
        why = f": {'; '.join(self.reasons)}" if self.reasons else ""
        return f"{self.stem}: {self.state}{why} [{made}{took}, {describe_machine(s)}]"


def executed_runs(profile: str):
    """One row per executed chapter in ``profile``'s folder, from its stamp: chapter,
    seconds of wall time, when it finished, the commit and the machine it ran on."""
    import pandas as pd

    rows = []
    for stamp in sorted(paths.executed_dir(profile).glob(".*.stamp.json")):
        try:
            data = _io.read_json(stamp)
        except ValueError:
            continue  # a truncated stamp: that chapter reruns, and has no time to show
        rows.append({
            "chapter": stamp.name[1:].removesuffix(".stamp.json"),
            "seconds": data.get("seconds"),
            "finished": (data.get("finished") or "").replace("T", " ").replace("Z", " UTC"),
            "commit": (data.get("commit") or "")[:7],
            "machine": describe_machine(data),
        })
    return pd.DataFrame(rows, columns=["chapter", "seconds", "finished", "commit", "machine"])
