"""The IAM audit's summary line in a parallel run: a grant counts as unused only when no worker's
handler tests used it (tests/iam_report.py)."""

from __future__ import annotations

from types import SimpleNamespace

import iam_report
import pytest
from iam_policy import Condition, Grant


class Terminal:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str) -> None:
        self.lines.append(line)

    def section(self, title: str) -> None:
        self.lines.append(f"== {title}")


def _controller(list_them: bool = False) -> SimpleNamespace:
    return SimpleNamespace(stash=pytest.Stash(), getoption=lambda name: list_them)


def _worker_output(*grants: Grant) -> dict:
    worker = SimpleNamespace(workeroutput={})
    iam_report.hand_over(worker, list(grants))
    return worker.workeroutput


LOGS = Grant("ApiRole", "s3:GetObject", "arn:aws:s3:::out/*")
NOVA = Grant("ApiRole", "bedrock:InvokeModel", "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-canvas-v1:0")
LISTING = Grant("ApiRole", "s3:ListBucket", "arn:aws:s3:::out", (Condition("StringLike", "s3:prefix", ("o/*",)),))


def test_a_grant_one_worker_used_is_not_unused():
    controller, terminal = _controller(), Terminal()
    iam_report.collect(controller, _worker_output(LOGS, NOVA))  # this worker used LISTING
    iam_report.collect(controller, _worker_output(NOVA, LISTING))  # this one used LOGS

    iam_report.summarize(terminal, controller)

    assert terminal.lines == ["IAM audit: 1 grants no handler test used (--iam-unused lists them)"]


def test_listed_once_for_the_whole_run_and_a_worker_without_handler_tests_changes_nothing():
    controller, terminal = _controller(list_them=True), Terminal()
    iam_report.collect(controller, _worker_output(NOVA, LISTING))
    iam_report.collect(controller, {"exitstatus": 0})  # ran no handler test: no audit to report
    iam_report.collect(controller, _worker_output(NOVA, LISTING))

    iam_report.summarize(terminal, controller)

    assert terminal.lines == [
        "== IAM grants no handler test used",
        f"ApiRole: bedrock:InvokeModel on {NOVA.resource}",
        "ApiRole: s3:ListBucket on arn:aws:s3:::out",
    ]


def test_one_process_reports_to_itself_and_no_handler_tests_means_no_line():
    alone, terminal = _controller(), Terminal()
    iam_report.hand_over(alone, [NOVA, NOVA])  # two statements granting the same: counted twice, as before

    iam_report.summarize(terminal, alone)
    iam_report.summarize(silent := Terminal(), _controller())

    assert terminal.lines == ["IAM audit: 2 grants no handler test used (--iam-unused lists them)"]
    assert silent.lines == []
