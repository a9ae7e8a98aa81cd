"""The e-callback pages over HTTP: the whole way through, and every refusal changing nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from huifang.callbacks.models import Attempt, Channel, TaskStatus
from huifang.selfservice import services as s
from huifang.selfservice.models import ECallbackLink, ECallbackStep, LinkStatus
from tests.conftest import PASSWORD
from tests.selfservice.conftest import last_code

pytestmark = pytest.mark.django_db
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"


def _token(url):
    return url.rstrip("/").split("/e/")[1]


def _url(name, token):
    return reverse(f"h5:{name}", args=[token])


@pytest.fixture
def started(etask):
    link, url = s.ecallback_start(etask)
    return link, _token(url)


def _client(**kwargs):
    return Client(HTTP_USER_AGENT=UA, REMOTE_ADDR="10.8.8.8", **kwargs)


def _verify(client, token):
    client.post(_url("send", token))
    response = client.post(_url("verify", token), {"code": last_code()})
    assert response.status_code == 302 and response["Location"].endswith("/identity/")
    return response


def _snapshot(link):
    link.refresh_from_db()
    return (
        link.status,
        link.otp_failures,
        link.verified_at,
        link.identity_confirmed_at,
        dict(link.answers),
        ECallbackStep.objects.filter(link=link).count(),
        Attempt.objects.count(),
    )


def test_whole_way_through_in_chinese(started, etask):
    link, token = started
    client = _client()
    page = client.get(_url("code", token))
    assert page.status_code == 200
    body = page.content.decode()
    assert "汇安人寿" in body and "138****1234" in body and "改为电话回访" in body
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "same-origin"
    assert "csrfmiddlewaretoken" in body and "sessionid" not in page.cookies
    _verify(client, token)
    page = client.get(_url("identity", token))
    assert "张*" in page.content.decode() and "本人" in page.content.decode()
    assert client.post(_url("identity", token), {"answer": "yes"})["Location"].endswith("/item/")
    while True:
        page = client.get(_url("item", token))
        if page.status_code == 302:
            break
        text = page.content.decode()
        assert "改为电话回访" in text and "有疑问" in text
        code = s.current_item(ECallbackLink.objects.get(pk=link.pk))[1].code
        client.post(_url("item", token), {"item": code, "answer": "yes"})
    done = client.get(_url("end", token))
    assert done.status_code == 200
    text = done.content.decode()
    assert "犹豫期" in text and "2026年3月17日" in text
    etask.refresh_from_db()
    assert etask.status == TaskStatus.SUCCESS
    # The same link in another browser: gone, nothing shown.
    other = _client().get(_url("end", token))
    assert other.status_code == 410 and "犹豫期" not in other.content.decode()
    assert _client().get(_url("code", token)).status_code == 302


def test_no_answer_page_shows_the_problem_case(started, etask):
    link, token = started
    client = _client()
    _verify(client, token)
    client.post(_url("identity", token), {"answer": "yes"})
    assert client.get(_url("item", token)).status_code == 200
    code = s.current_item(ECallbackLink.objects.get(pk=link.pk))[1].code
    response = client.post(_url("item", token), {"item": code, "answer": "no"})
    assert response["Location"].endswith("/end/")
    page = client.get(_url("end", token))
    assert "PC2026" in page.content.decode() and "问题件" in page.content.decode()
    etask.refresh_from_db()
    assert etask.status == TaskStatus.PROBLEM_FOUND


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),
        lambda t: ("B" if t[0] == "A" else "A") + t[1:],
        lambda t: t.split(":")[0],
        lambda t: "1",
    ],
    ids=["signature", "secret", "unsigned", "task-id"],
)
def test_tampered_token_is_refused_and_changes_nothing(started, mangle):
    link, token = started
    before = _snapshot(link)
    client = _client()
    for name in ("code", "identity", "item", "end", "phone"):
        assert client.get(_url(name, mangle(token))).status_code == 404
    for name in ("send", "verify", "phone"):
        assert client.post(_url(name, mangle(token)), {"code": "123456", "slot": "asap"}).status_code == 404
    assert _snapshot(link) == before


def test_another_tasks_browser_key_does_not_open_this_link(make_etask):
    a, url_a = s.ecallback_start(make_etask(1))
    b, url_b = s.ecallback_start(make_etask(2))
    client = _client()
    _verify(client, _token(url_a))  # cookie for link a
    before = _snapshot(b)
    assert client.get(_url("identity", _token(url_b)))["Location"].endswith(_url("code", _token(url_b)))
    assert client.post(_url("identity", _token(url_b)), {"answer": "yes"}).status_code == 302
    assert _snapshot(b) == before


def test_replay_of_a_used_link(started, etask):
    link, token = started
    client = _client()
    _verify(client, token)
    client.post(_url("phone", token), {"slot": "asap"})
    before = _snapshot(link)
    assert before[0] == LinkStatus.SWITCHED
    for name, data in (
        ("send", {}),
        ("verify", {"code": "000000"}),
        ("identity", {"answer": "yes"}),
        ("phone", {"slot": "asap"}),
    ):
        response = _client().post(_url(name, token), data)
        assert response.status_code == 302 and response["Location"].endswith("/end/")
    assert _snapshot(link) == before


def test_brute_force_locks_after_five(started, etask):
    link, token = started
    client = _client()
    client.post(_url("send", token))
    right = last_code()
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    for left in (4, 3, 2, 1):
        page = client.post(_url("verify", token), {"code": wrong})
        assert page.status_code == 400 and f"{left}" in page.content.decode()
    assert client.post(_url("verify", token), {"code": wrong})["Location"].endswith("/end/")
    page = client.get(_url("end", token))
    assert page.status_code == 410 and "锁定" in page.content.decode()
    before = _snapshot(link)
    assert client.post(_url("verify", token), {"code": right})["Location"].endswith("/end/")
    assert _snapshot(link) == before
    etask.refresh_from_db()
    assert etask.channel == Channel.PHONE


def test_bad_tokens_are_limited_per_ip(started):
    client = _client()
    limit = s.IP_LIMITS["bad_token"][0]
    statuses = [client.get(_url("code", f"bogus{n}")).status_code for n in range(limit + 1)]
    assert statuses[:limit] == [404] * limit and statuses[limit] == 429


def test_csrf_is_required(started):
    link, token = started
    before = _snapshot(link)
    client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=UA)
    assert client.post(_url("send", token)).status_code == 403
    assert client.post(_url("phone", token), {"slot": "asap"}).status_code == 403
    assert _snapshot(link) == before


def test_bad_input_gets_a_message_not_a_500(started):
    link, token = started
    client = _client()
    assert client.post(_url("verify", token), {"code": "abc"}).status_code == 400
    assert client.post(_url("verify", token), {"code": "123456"}).status_code == 400  # no code sent yet
    assert client.post(_url("phone", token), {"slot": "never"}).status_code == 400
    assert (
        client.post(_url("identity", token), {"answer": "yes"}).status_code == 302
    )  # not verified: to the code
    _verify(client, token)
    assert client.post(_url("identity", token), {"answer": "perhaps"}).status_code == 400
    client.post(_url("identity", token), {"answer": "yes"})
    assert client.post(_url("item", token), {"item": "nope", "answer": "yes"}).status_code == 302
    assert client.post(_url("item", token), {"answer": "maybe"}).status_code in (302, 400)
    assert client.put(_url("item", token)).status_code == 405


@pytest.mark.parametrize(
    "role",
    [
        "agent",
        "supervisor",
        "problem_handler",
        "complaint_handler",
        "qa_inspector",
        "auditor",
        "admin",
        "agent_js",
        "norole",
        None,
    ],
)
def test_staff_login_gives_nothing_extra(users, started, role):
    """The pages answer by the link alone: every role (and nobody) gets the code page (200), a
    404 for a bad token, and cannot act past the code without it (nothing changes)."""
    link, token = started
    client = _client()
    if role:
        assert client.login(username=role, password=PASSWORD)
    before = _snapshot(link)
    assert client.get(_url("code", token)).status_code == 200
    assert client.get(_url("code", token + "x")).status_code == 404
    assert client.get(_url("item", token))["Location"].endswith(_url("code", token))
    assert client.post(_url("identity", token), {"answer": "yes"}).status_code == 302
    assert client.post(_url("item", token), {"item": "identity", "answer": "yes"}).status_code == 302
    assert _snapshot(link) == before


def test_code_and_item_pages_queries(started, django_assert_max_num_queries):
    link, token = started
    client = _client()
    with django_assert_max_num_queries(1):
        assert client.get(_url("code", token)).status_code == 200
    _verify(client, token)
    client.post(_url("identity", token), {"answer": "yes"})
    client.get(_url("item", token))
    with django_assert_max_num_queries(1):
        page = client.get(_url("item", token))
    assert page.status_code == 200 and "第1项" in page.content.decode()


def test_cached_pages_carry_each_visitors_own_csrf_token(started):
    link, token = started
    first, second = _client().get(_url("code", token)), _client().get(_url("code", token))
    one, two = first.cookies["csrftoken"].value, second.cookies["csrftoken"].value
    assert one != two
    assert "@@" not in first.content.decode() and "@@" not in second.content.decode()
    # A form from the cached page posts with the visitor's own cookie (CSRF enforced).
    client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=UA)
    html = client.get(_url("code", token)).content.decode()
    value = html.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    assert client.post(_url("send", token), {"csrfmiddlewaretoken": value}).status_code == 200


def test_an_expired_link_ends_only_itself(make_etask, h5_clock):
    from datetime import timedelta

    a, url_a = s.ecallback_start(make_etask(1))
    b, _ = s.ecallback_start(make_etask(2))
    ECallbackLink.objects.filter(pk__in=[a.pk, b.pk]).update(expires_at=a.created_at + timedelta(minutes=1))
    h5_clock.shift(timedelta(minutes=2))
    page = _client().get(_url("end", _token(url_a)))
    assert page.status_code == 410 and "已过期" in page.content.decode()
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.status == LinkStatus.EXPIRED and b.status == LinkStatus.ACTIVE
