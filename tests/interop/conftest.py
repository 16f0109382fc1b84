"""Fixtures for the interoperability tests (see interop_helpers.py for the helpers behind them).

A missing modelseal binary or reference venv fails the tests that need it, with the reason:
these tests are never skipped.
"""

import pytest

from interop_helpers import Modelseal, Problem, Reference, modelseal_path, reference_ready


@pytest.fixture(scope="session")
def modelseal() -> Modelseal:
    try:
        return Modelseal(modelseal_path())
    except Problem as err:
        problem = str(err)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def reference() -> Reference:
    try:
        reference_ready()
        return Reference()
    except Problem as err:
        problem = str(err)
    pytest.fail(problem, pytrace=False)
