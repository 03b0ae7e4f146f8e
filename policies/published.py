"""A policy folder as data (``{path: text}``): read, checked and built without a folder of
its own on the instance.

``bandeng policy publish`` stores a folder in the database (``services.policy_versions``);
an instance that follows the database (``BANDENG_POLICY_SOURCE=database``) builds each
published version with every check of ``bandeng policy check``, its policy tests included,
before serving it. So a version that this instance's code cannot load (say, a rule naming
a resource that only a newer release knows, during a rolling upgrade) is refused here and
the policy in force stays.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from policies.authorizer import Authorizer
from policies.check import CheckReport, check_directory
from policies.loader import MODEL_FILE, POLICY_FILE, PolicyError, Publication
from policies.store import PolicyCheckCrashed

log = logging.getLogger("bandeng.policy")

TESTS = "tests"
# The files of a policy folder: the model, the rules, and the policy tests (tests/*.yaml).
_TEST_FILE = re.compile(r"tests/[^/\\]+\.yaml")


def is_policy_file(path: str) -> bool:
    return path in (MODEL_FILE, POLICY_FILE) or _TEST_FILE.fullmatch(path) is not None


def read_folder(directory: Path) -> dict[str, str]:
    """Every file of the policy folder ``directory`` that the checker reads, by its path
    inside the folder. A file that is missing is left out (the check then says so)."""
    paths = [directory / MODEL_FILE, directory / POLICY_FILE, *sorted((directory / TESTS).glob("*.yaml"))]
    files: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            continue
        try:
            files[path.relative_to(directory).as_posix()] = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise PolicyError([f"{path}: cannot read: {exc.strerror}"]) from None
        except UnicodeDecodeError as exc:
            raise PolicyError([f"{path}: not UTF-8 text: {exc.reason}"]) from None
    return files


def write_folder(files: dict[str, str], directory: Path) -> None:
    """Write ``files`` into the (empty) folder ``directory``."""
    strangers = sorted(path for path in files if not is_policy_file(path))
    if strangers:
        raise PolicyError([f"{path}: not a file of a policy folder" for path in strangers])
    (directory / TESTS).mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        (directory / path).write_text(text, encoding="utf-8")


def check_files(files: dict[str, str], label: str, against: dict[str, str] | None = None) -> CheckReport:
    """``check_directory`` on ``files`` (and the access change against ``against``), with
    the messages naming ``label`` instead of the temporary folder they were checked in."""
    with tempfile.TemporaryDirectory(prefix="bandeng-policy-") as scratch:
        folder, previous = Path(scratch) / "policy", Path(scratch) / "in-force"
        folder.mkdir()
        write_folder(files, folder)
        if against is not None:
            previous.mkdir()
            write_folder(against, previous)
        report = check_directory(folder, previous if against is not None else None)
        for messages in (report.errors, report.warnings):
            messages[:] = [
                m.replace(str(folder), label).replace(str(previous), "the policy in force") for m in messages
            ]
        return report


def build_published(files: dict[str, str], checksum: str, publication: Publication) -> Authorizer:
    """The authorizer of a published version, or ``PolicyError`` naming every problem
    (``PolicyCheckCrashed`` when the check itself failed: worth trying again)."""
    label = f"published version {publication.number}"
    try:
        report = check_files(files, label)
    except PolicyError:
        raise
    except Exception as exc:
        log.exception("unexpected error while checking %s", label)
        raise PolicyCheckCrashed([f"{label}: could not be checked: {type(exc).__name__}: {exc}"]) from None
    if not report.ok or report.authorizer is None:
        raise PolicyError(report.errors or [f"{label}: policy could not be built"])
    if report.version != checksum:
        raise PolicyError(
            [f"{label}: its files hash to {report.version}, but it was published as {checksum}"]
        )
    return Authorizer(replace(report.authorizer.policy, publication=publication))
