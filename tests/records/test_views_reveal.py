"""Revealing one personal value on the customer page: a reason, CSRF, the audit event, and every
refusal writing nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from huifang.core.audit.events import PII_REVEALED
from huifang.core.audit.models import AuditEvent
from huifang.core.crypto.masking import mask_id_number, mask_name, mask_phone
from tests.records.test_views_pages import (
    ADDRESS,
    EMAIL,
    ID_NUMBER,
    MOBILE,
    NAME,
    OTHER_PHONE,
    make_gd_customer,
    make_js_customer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def gd_customer(products):
    return make_gd_customer()


@pytest.fixture
def js_customer(products):
    return make_js_customer()


REASON = "客户来电核实身份"
HTMX = {"HTTP_HX_REQUEST": "true"}


def reveal_url(field="mobile", customer_no="C000001"):
    return reverse("records:customer_reveal", args=[customer_no, field])


def reveal(client, user, field="mobile", reason=REASON, customer_no="C000001", **extra):
    if user is not None:
        client.force_login(user)
    data = {} if reason is None else {"reason": reason}
    return client.post(reveal_url(field, customer_no), data, **extra)


def reveals():
    return AuditEvent.objects.filter(event_type=PII_REVEALED.id)


@pytest.mark.parametrize(
    "field, plain",
    [
        ("name", NAME),
        ("id_number", ID_NUMBER),
        ("mobile", MOBILE),
        ("other_phones", OTHER_PHONE),
        ("address", ADDRESS),
        ("email", EMAIL),
    ],
)
def test_reveal_with_a_reason_returns_the_value_and_is_audited(client, users, gd_customer, field, plain):
    response = reveal(client, users["agent"], field, **HTMX)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert html.lstrip().startswith(f'<div id="pii-{field}"')  # the field's fragment only
    assert "<html" not in html
    assert f'data-testid="revealed-{field}">{plain}<' in html
    event = reveals().get()
    assert event.actor_id == users["agent"].pk
    assert (event.subject_type, event.subject_id) == ("records.customer", str(gd_customer.pk))
    assert event.org_unit_id == gd_customer.org_unit_id
    assert event.data["field"] == field and event.data["reason"] == REASON
    assert plain not in str(event.data)  # the event holds the masked value only


def test_only_the_revealed_field_is_shown_in_plain(client, users, gd_customer):
    html = reveal(client, users["supervisor"], "mobile", **HTMX).content.decode()
    assert MOBILE in html
    assert ID_NUMBER not in html and NAME not in html


def test_reveal_without_htmx_answers_the_page_with_that_field_revealed(client, users, gd_customer):
    response = reveal(client, users["agent"], "id_number")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert f'data-testid="revealed-id_number">{ID_NUMBER}<' in html
    assert MOBILE not in html and mask_phone(MOBILE) in html
    assert NAME not in html and mask_name(NAME) in html
    assert reveals().count() == 1


def test_each_reveal_is_audited_again(client, users, gd_customer):
    reveal(client, users["agent"], "mobile", **HTMX)
    reveal(client, users["agent"], "mobile", **HTMX)
    assert reveals().count() == 2


@pytest.mark.parametrize("reason", [None, "", "   ", "abc"])
def test_reveal_without_a_proper_reason_is_refused(client, users, gd_customer, reason):
    client.force_login(users["agent"])
    before = AuditEvent.objects.count()  # after the login, which is audited itself
    response = reveal(client, None, "id_number", reason=reason, **HTMX)
    assert response.status_code == 200  # the form again, with its error (htmx swaps 2xx only)
    html = response.content.decode()
    assert "is-invalid" in html and "invalid-feedback" in html
    assert ID_NUMBER not in html and mask_id_number(ID_NUMBER) in html
    assert "<details" in html and " open" in html.split("<details")[1].split(">")[0]
    assert AuditEvent.objects.count() == before


def test_reveal_without_a_reason_and_without_htmx_is_a_bad_request(client, users, gd_customer):
    client.force_login(users["agent"])
    before = AuditEvent.objects.count()
    response = reveal(client, None, "mobile", reason="")
    assert response.status_code == 400
    assert MOBILE not in response.content.decode()
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("role", ["qa_inspector", "auditor", "norole"])
def test_reveal_is_forbidden_without_the_capability(client, users, gd_customer, role):
    client.force_login(users[role])
    before = AuditEvent.objects.count()
    response = client.post(reveal_url("mobile"), {"reason": REASON}, **HTMX)
    assert response.status_code == 403
    assert MOBILE not in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_reveal_for_a_customer_of_another_province_is_not_found(client, users, gd_customer):
    client.force_login(users["agent_js"])
    before = AuditEvent.objects.count()
    response = client.post(reveal_url("mobile"), {"reason": REASON}, **HTMX)
    assert response.status_code == 404
    assert MOBILE not in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_reveal_of_a_missing_customer_or_unknown_field_is_not_found(client, users, gd_customer):
    client.force_login(users["agent"])
    before = AuditEvent.objects.count()
    assert client.post(reveal_url("mobile", "C999999"), {"reason": REASON}).status_code == 404
    for field in ("mobile_bidx", "source_hash", "customer_no", "org_unit", "nope"):
        assert client.post(reveal_url(field), {"reason": REASON}).status_code == 404, field
    assert AuditEvent.objects.count() == before


def test_reveal_needs_post(client, users, gd_customer):
    client.force_login(users["agent"])
    before = AuditEvent.objects.count()
    assert client.get(reveal_url("mobile") + "?reason=" + REASON).status_code == 405
    assert AuditEvent.objects.count() == before


def test_reveal_needs_the_csrf_token(users, gd_customer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["agent"])
    before = AuditEvent.objects.count()
    response = client.post(reveal_url("mobile"), {"reason": REASON}, **HTMX)
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before
    # With the token from the page (as htmx sends it in X-CSRFToken), it works.
    page = client.get(reverse("records:customer", args=["C000001"]))
    token = page.content.decode().split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(reveal_url("mobile"), {"reason": REASON}, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200 and MOBILE in response.content.decode()
    assert AuditEvent.objects.count() == before + 1


def test_admin_sees_every_province_and_may_reveal(client, users, js_customer):
    html = reveal(client, users["admin"], "mobile", customer_no="C000002", **HTMX).content.decode()
    assert "13900000002" in html
    assert reveals().get().actor_id == users["admin"].pk
