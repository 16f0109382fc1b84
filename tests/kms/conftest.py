"""Puts tests/kms on sys.path so its tests import the shared `local_kms` helper."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
