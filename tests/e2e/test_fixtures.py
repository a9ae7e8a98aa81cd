"""The e2e fixtures themselves: the shell reaches the server's database, with the server's keys."""

import pytest

pytestmark = pytest.mark.e2e


def test_shell_reads_the_server_database(e2e_shell):
    out = e2e_shell(
        "from huifang.org.models import User\n"
        "from huifang.records.models import Customer\n"
        "print(User.objects.filter(username='agent').count())\n"
        "c = Customer.objects.order_by('pk').first()\n"
        "print(bool(c.name))"
    )
    assert out.split() == ["1", "True"]
