"""The workbench demo (huifang.callbacks.demo): the demo agent in Guangzhou has a real queue of
phone callbacks, created through the records feed and the callback hook, and a second run adds
nothing."""

import io

import pytest
from django.test import override_settings
from django.urls import reverse

from huifang.callbacks import demo as workbench_demo
from huifang.callbacks.assignment import callback_tasks_claimable
from huifang.callbacks.models import CallbackTask, Channel, TaskKind
from huifang.core.management.commands.demo import demo_builders
from huifang.org.demo import demo_org_load
from huifang.org.models import User
from huifang.records import demo as records_demo
from huifang.records.models import Customer, Policy

pytestmark = pytest.mark.django_db

IMMEDIATE_TASKS = {
    "default": {
        "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "imports", "sweeps"],
    }
}


def load(builder, capture) -> str:
    out = io.StringIO()
    with override_settings(TASKS=IMMEDIATE_TASKS), capture(execute=True):
        builder.demo_load(out, policies=20)
    return out.getvalue()


@pytest.fixture
def demo(db, django_capture_on_commit_callbacks):
    demo_org_load()
    load(records_demo, django_capture_on_commit_callbacks)
    return load(workbench_demo, django_capture_on_commit_callbacks)


def test_the_builder_runs_after_the_records(db):
    orders = {dotted: order for order, dotted in demo_builders()}
    assert orders["huifang.callbacks.demo.demo_load"] > orders["huifang.records.demo.demo_load"]


def test_the_demo_agent_gets_six_phone_callbacks_with_all_seven_bs13_items(demo):
    assert "6 customers and 6 policies created" in demo
    agent = User.objects.get(username="agent")
    tasks = CallbackTask.objects.filter(policy__policy_no__startswith=workbench_demo.POLICY_PREFIX)
    assert tasks.count() == workbench_demo.WORKBENCH_POLICIES
    for task in tasks.select_related("policy", "customer", "org_unit"):
        assert task.kind == TaskKind.NEW_POLICY and task.org_unit.code == "GZ"
        assert task.channel == Channel.PHONE and task.pool == ""
        assert task.customer.mobile and task.customer.e_callback_declined
        assert task.policy.payment_mode == "regular"  # 期缴: BS-13(7) is read
        assert task.policy.salesperson.staff_user_id != agent.pk
    claimable = set(callback_tasks_claimable(agent).values_list("pk", flat=True))
    assert set(tasks.values_list("pk", flat=True)) <= claimable


def test_a_second_run_adds_nothing(demo, django_capture_on_commit_callbacks):
    counts = (Customer.objects.count(), Policy.objects.count(), CallbackTask.objects.count())
    out = load(workbench_demo, django_capture_on_commit_callbacks)
    assert "already present" in out
    assert (Customer.objects.count(), Policy.objects.count(), CallbackTask.objects.count()) == counts
    assert (
        Customer.objects.filter(
            customer_no__startswith=workbench_demo.CUSTOMER_PREFIX, e_callback_declined=True
        ).count()
        == 6
    )


def test_the_demo_agent_takes_the_next_task_from_the_home_page(demo, client):
    client.force_login(User.objects.get(username="agent"))
    home = client.get(reverse("work:home"))
    assert home.status_code == 200
    response = client.post(reverse("work:next"))
    assert response.status_code == 302 and "/work/tasks/" in response["Location"]
    assert client.get(response["Location"]).status_code == 200
