"""Shared test settings: hypothesis profile and the optional-PyTorch marker."""
import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

# Property tests: enough examples to find edge cases, no per-example deadline (CI
# machines are slow and shared). `HYPOTHESIS_PROFILE=thorough` runs many more.
settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(config, items):
    """Tests marked `torch` skip, with a reason, when PyTorch is not installed."""
    if importlib.util.find_spec("torch") is not None:
        return
    skip = pytest.mark.skip(reason="PyTorch not installed (pip install torch==2.13.0 to run these)")
    for item in items:
        if "torch" in item.keywords:
            item.add_marker(skip)
