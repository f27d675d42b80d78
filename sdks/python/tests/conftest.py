"""Puts the generated packages on the path (their `src/` layouts) for the tests."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
for package in sorted(ROOT.glob("*/src")):
    sys.path.insert(0, str(package))
