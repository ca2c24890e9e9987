"""Parallel runs (`make test`: pytest-xdist, ``-n logical --dist loadgroup``): which tests share a worker.

Each worker builds the session's fixtures for itself. What is costly to build goes to one
worker, with every test that needs it; every other test goes to whichever worker is free.
`deployed` is not grouped: nearly every handler test needs it, so each worker synthesizes it
once (~5 s) and the handler tests share both cores.

``--dist loadgroup`` would do this from ``xdist_group`` marks, but pytest-xdist 3.8 groups a
test by rewriting its node id, which pytest 9.2's structured ids ignore: the groups are
silently lost (https://github.com/pytest-dev/pytest-xdist/issues/1386). So each worker writes
down the groups it collected (its own rules and any ``xdist_group`` mark) and the controller
schedules by them, as loadgroup does: a group is one unit of work, the largest first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

_SESSION_GROUPS = {
    "stack": "local-stack",  # a `python -m local` subprocess (and the browser that drives it)
    "browser": "local-stack",
    "synth": "cdk",  # a CDK synth each, ~5 s
    "variant": "cdk",
}
# The order in which tests that share nothing are handed out: first the folders whose tests wait
# on programs of their own (the CDK CLI, cfn-lint, the local stack), last the many short ones,
# which fill the gaps so that the workers finish together.
_ORDER = ("tests/infra/", "tests/e2e/", "tests/functions/", "tests/gcp/", "tests/unit/")
_FOLDER = pytest.StashKey[Path]()
_INPUT_KEY = "test_groups_file"


def group_of(item: pytest.Item) -> str | None:
    marked = [str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
              for mark in item.iter_markers("xdist_group")]  # fmt: skip
    if marked:
        return "_".join(sorted(set(marked)))
    # Fixtures taken by name at run time: the IAM audit's `deployed_as` stack, and a parameter
    # naming the fixture to get (`request.getfixturevalue(build)`).
    audited = item.get_closest_marker("deployed_as")
    params = item.callspec.params.values() if hasattr(item, "callspec") else ()
    needs = {*item.fixturenames, *(audited.args if audited else ()), *(p for p in params if isinstance(p, str))}
    for fixture, group in _SESSION_GROUPS.items():
        if fixture in needs:
            return group
    # A module's (or class's) fixture built on two workers would run twice: its tests stay together.
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    if any(defs[-1].scope in ("module", "class", "package") for defs in definitions.values()):
        return item.nodeid.split("::", 1)[0]
    return None


# --- on each worker ----------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _INPUT_KEY in getattr(config, "workerinput", {}):  # every worker sorts alike: one collection
        items.sort(key=_rank)


def _rank(item: pytest.Item) -> int:
    return next((rank for rank, folder in enumerate(_ORDER) if item.nodeid.startswith(folder)), len(_ORDER))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook sends the collection to the controller
def pytest_collection_finish(session: pytest.Session) -> None:
    target = getattr(session.config, "workerinput", {}).get(_INPUT_KEY)
    if target is None:
        return
    groups = {item.nodeid: group for item in session.items if (group := group_of(item))}
    partial = Path(f"{target}.partial")
    partial.write_text(json.dumps(groups))
    os.replace(partial, target)  # the controller never reads half a file


# --- on the controller -------------------------------------------------------------------------


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    config = node.config
    if _FOLDER not in config.stash:
        config.stash[_FOLDER] = Path(tempfile.mkdtemp(prefix="test-groups-"))
    node.workerinput[_INPUT_KEY] = str(config.stash[_FOLDER] / f"{node.gateway.id}.json")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """LoadScopeScheduling with a test's group (from the workers' files) as its scope."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            # First called once every worker has sent its collection, so has written its file.
            if self.groups is None:
                self.groups = {}
                for written in sorted(config.stash[_FOLDER].glob("*.json")):
                    self.groups.update(json.loads(written.read_text()))
            return self.groups.get(nodeid, nodeid)

    return GroupScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_FOLDER, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
