"""The demo builder and the staff view of the evidence (the task page includes the partial)."""

import io

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from huifang.selfservice import services as s
from huifang.selfservice.demo import demo_load
from huifang.selfservice.models import ECallbackLink

pytestmark = pytest.mark.django_db
META = s.ClientMeta(ip="10.1.1.1", user_agent="UA-test")


def test_demo_starts_links_once_and_says_where_the_outbox_is(etask, settings, tmp_path):
    settings.HUIFANG_SMS_OUTBOX = tmp_path / "sms.jsonl"
    out = io.StringIO()
    assert demo_load(out)["started"] == 1
    assert "sms.jsonl" in out.getvalue() and "/h5/e/" in out.getvalue()
    again = io.StringIO()
    assert demo_load(again)["started"] == 0 and "already present" in again.getvalue()
    assert ECallbackLink.objects.filter(task=etask).count() == 1


def test_evidence_partial_shows_steps_seal_and_retention(etask):
    link, _url = s.ecallback_start(etask)
    s.ecallback_code_send(link, META)
    s.ecallback_switch(link, "morning", META)
    with translation.override("zh-hans"):
        html = render_to_string("selfservice/_task_evidence.html", {"task": etask})
    bundle = ECallbackLink.objects.get(pk=link.pk).bundle
    assert bundle.sha256 in html and "UA-test" in html and "10.1.1.1" in html
    assert "电子化回访证据" in html and "完整" in html and "合同终止后10年" in html
    assert "13812341234" not in html and "138****1234" in html


def test_evidence_partial_without_links(etask):
    with translation.override("zh-hans"):
        html = render_to_string("selfservice/_task_evidence.html", {"task": etask})
    assert "尚未发送" in html


def test_the_task_page_shows_the_sealed_evidence_to_staff(etask, client, users):
    link, _url = s.ecallback_start(etask)
    s.ecallback_code_send(link, META)
    s.ecallback_switch(link, "morning", META)
    bundle = ECallbackLink.objects.get(pk=link.pk).bundle
    client.force_login(users["supervisor"])  # reads tasks in the GD subtree
    response = client.get(f"/work/tasks/{etask.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="ecallback-evidence"' in html and bundle.sha256 in html and "UA-test" in html
    assert "13812341234" not in html
