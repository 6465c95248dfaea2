"""The scale tests run on the shared Redis under a prefix of their own, like the worker tests."""

from tests.jobs.conftest import redis_prefix  # noqa: F401  (fixture)
