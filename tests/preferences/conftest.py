"""Fixtures shared by the preferences service tests (test_services.py, test_services_consensus.py)."""

import pytest

from tests.preferences.factories import make_cmp_project


@pytest.fixture
def cmp(users):
    return make_cmp_project(users)
