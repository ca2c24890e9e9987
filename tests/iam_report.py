"""The IAM audit's summary: the deployed stack's grants that no handler test needed, in one line.

The handler tests' conftest (tests/functions) knows which grants each process used, but only the
process that prints sees this module's hooks (tests/conftest.py): in a parallel run that is
pytest-xdist's controller, which collects no test and loads no handler. So each process hands
over the grants it found unused: a worker in its ``workeroutput``, a single process to itself.
A grant is unused by the run when every process that audited the deployed stack left it unused.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

# One entry per process that audited the deployed stack: its unused grants as
# (role, action, resource, conditions), counted as often as the roles list them.
_Row = tuple[str, str, str, str]
_UNUSED = pytest.StashKey[list[Counter[_Row]]]()
_OUTPUT_KEY = "iam_unused_grants"


def hand_over(config: pytest.Config, grants: list[Any]) -> None:
    """At the end of a session that audited the deployed stack: its unused ``iam_policy.Grant``s."""
    # Lists of strings: what execnet carries from a worker.
    rows = [[g.role, g.action, g.resource, "; ".join(map(str, g.conditions))] for g in grants]
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_OUTPUT_KEY] = rows
    else:
        collect(config, {_OUTPUT_KEY: rows})


def collect(config: pytest.Config, workeroutput: dict[str, Any]) -> None:
    rows = workeroutput.get(_OUTPUT_KEY)
    if rows is not None:
        _received(config).append(Counter(tuple(row) for row in rows))


def summarize(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Grants of the deployed stack that no handler test needed: candidates to remove. Most are
    Bedrock model ARNs no single test calls; ``--iam-unused`` lists them."""
    received = _received(config)
    if not received:
        return
    unused_everywhere = Counter(received[0])
    for other in received[1:]:
        unused_everywhere &= other
    grants = sorted(unused_everywhere.elements())
    if not config.getoption("--iam-unused"):
        terminalreporter.write_line(f"IAM audit: {len(grants)} grants no handler test used (--iam-unused lists them)")
        return
    terminalreporter.section("IAM grants no handler test used")
    for role, action, resource, _conditions in grants:
        terminalreporter.write_line(f"{role}: {action} on {resource}")


def _received(config: pytest.Config) -> list[Counter[_Row]]:
    return config.stash.setdefault(_UNUSED, [])
