"""Notifications go to a real local SMTP server."""

import pytest


@pytest.fixture
def config_overrides(mail_config) -> dict:
    return mail_config
