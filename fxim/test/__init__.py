"""
Tests for fxim.  A deterministic hypothesis profile is registered here so
property tests give the same examples on every run.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fxim", deadline=None, derandomize=True, max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("fxim")
