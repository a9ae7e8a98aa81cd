"""Fixtures for the e-callback: a new policy in its cooling-off period, its electronic task, a clock."""

from datetime import date

import pytest

from huifang.callbacks.channels import channel_fallback_point
from huifang.callbacks.models import Channel
from huifang.notify.models import Message
from tests.callbacks.conftest import shipped_scripts  # noqa: F401 (fixture)
from tests.callbacks.factories import local, policy_make, task_make
from tests.records.conftest import products  # noqa: F401 (fixture)


@pytest.fixture
def h5_clock(time_machine):
    """Wednesday 2026-03-04 10:00 Shanghai: inside the cooling-off of a receipt signed 2026-03-02."""
    time_machine.move_to(local(2026, 3, 4, 10, 0), tick=False)
    return time_machine


@pytest.fixture
def make_etask(products, shipped_scripts, h5_clock):  # noqa: F811
    def make(n=1, **policy_over):
        policy_over.setdefault("receipt_date", date(2026, 3, 2))
        policy = policy_make(n, **policy_over)
        task = task_make(policy, channel=Channel.ELECTRONIC)
        task.channel_due_at = channel_fallback_point(task)
        task.save(update_fields=["channel_due_at"])
        return task

    return make


@pytest.fixture
def etask(make_etask):
    return make_etask()


def last_code() -> str:
    """The one-time code of the latest code message (read back from the message record)."""
    text = Message.objects.filter(kind="ecallback_code").order_by("-id").first().text
    return "".join(ch for ch in text.split("验证码为")[1][:6])
