"""
Tests for fxim.  A deterministic hypothesis profile is registered here so
property tests give the same examples on every run.
"""

import os

from hypothesis import HealthCheck, settings

#: This folder (fixtures/, js/ and the shared test helpers live here).
TEST_DIR = os.path.dirname(os.path.abspath(__file__))
#: The repository root (docs/, clients/, twisted/plugins).
ROOT = os.path.dirname(os.path.dirname(TEST_DIR))

settings.register_profile(
    "fxim", deadline=None, derandomize=True, max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("fxim")
