"""Fixtures shared by the annotation API tests (test_api.py, test_api_garbage.py)."""

import pytest

from tests.annotation.factories import client_for


@pytest.fixture
def api(users):
    return {name: client_for(user) for name, user in users.items()}
