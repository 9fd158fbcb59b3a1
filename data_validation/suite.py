"""The validation suite: one test per (check, discovered entity). Run: ``pytest --dataset ID``.

The session (data_validation/session.py) collects ``test_check`` as one item per case and reports each
item's verdict from the engine; the function itself is the name the test ids carry.
"""

from pathlib import Path

SUITE_PATH = Path(__file__)


def test_check() -> None:
    """One registered check on one discovered entity (its id: ``test_check[CODE:entity/path]``)."""
