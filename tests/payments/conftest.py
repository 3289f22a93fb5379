import pytest

from payments.ledger import balances_verify


@pytest.fixture(autouse=True)
def ledger_equals_balances(request):
    """After every scenario, each user's cached balance equals their ledger sum."""
    yield
    if "db" in request.fixturenames or request.node.get_closest_marker("django_db"):
        assert balances_verify() == []
