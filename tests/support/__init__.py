"""Helpers for the tests (no tests here), imported by test modules and conftest alike.

``PROJECT`` is the checkout (servers and console scripts run there); every user the tests
create gets ``PASSWORD`` unless a test says otherwise.
"""

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
