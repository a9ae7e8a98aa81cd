"""The records admin: reference data editable, core-system records read-only, personal information
masked on every admin page, search by business key only."""

import pytest

from huifang.core.crypto.masking import mask_id_number, mask_name, mask_phone
from huifang.records.models import Customer, ImportJob, Product, Salesperson
from tests.records.test_views_pages import (
    ADDRESS,
    EMAIL,
    ID_NUMBER,
    MOBILE,
    NAME,
    OTHER_PHONE,
    make_gd_customer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def gd_customer(products):
    return make_gd_customer()


PLAIN = (NAME, ID_NUMBER, MOBILE, OTHER_PHONE, ADDRESS, EMAIL)


@pytest.fixture
def admin_client(client, users):
    client.force_login(users["admin"])
    return client


def assert_masked(html: str):
    for plain in PLAIN:
        assert plain not in html, plain


def test_customer_list_and_detail_are_masked(admin_client, gd_customer):
    html = admin_client.get("/admin/records/customer/").content.decode()
    assert "C000001" in html
    assert mask_name(NAME) in html and mask_phone(MOBILE) in html and mask_id_number(ID_NUMBER) in html
    assert_masked(html)
    response = admin_client.get(f"/admin/records/customer/{gd_customer.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert mask_name(NAME) in html and mask_phone(OTHER_PHONE) in html
    assert_masked(html)
    assert 'name="_save"' not in html  # read-only


def test_policy_claim_and_event_pages_are_masked(admin_client, gd_customer):
    for url in (
        "/admin/records/policy/",
        "/admin/records/claim/",
        "/admin/records/policyevent/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_masked(response.content.decode())
    policy = gd_customer.policies_as_applicant.get(policy_no="P000001")
    html = admin_client.get(f"/admin/records/policy/{policy.pk}/change/").content.decode()
    assert "P000001" in html and mask_name(NAME) in html
    assert_masked(html)


def test_search_is_by_business_key_only(admin_client, gd_customer):
    html = admin_client.get("/admin/records/customer/", {"q": "C000001"}).content.decode()
    assert f"/admin/records/customer/{gd_customer.pk}/change/" in html
    for q in (NAME, MOBILE, "C0000"):  # no decryption, no substring match
        html = admin_client.get("/admin/records/customer/", {"q": q}).content.decode()
        assert f"/admin/records/customer/{gd_customer.pk}/change/" not in html, q
    html = admin_client.get("/admin/records/policy/", {"q": "P000001"}).content.decode()
    assert "P000001" in html


@pytest.mark.parametrize(
    "model", ["customer", "policy", "claim", "policyevent", "importjob", "importrowerror"]
)
def test_core_system_records_cannot_be_added_changed_or_deleted(admin_client, gd_customer, model):
    assert admin_client.get(f"/admin/records/{model}/").status_code == 200
    assert admin_client.get(f"/admin/records/{model}/add/").status_code == 403


def test_a_customer_cannot_be_changed_or_deleted(admin_client, gd_customer):
    url = f"/admin/records/customer/{gd_customer.pk}/"
    before = Customer.objects.get(pk=gd_customer.pk).name
    response = admin_client.post(url + "change/", {"customer_no": "X1", "do_not_call_reason": "x"})
    assert response.status_code == 403
    assert admin_client.post(url + "delete/", {"post": "yes"}).status_code == 403
    customer = Customer.objects.get(pk=gd_customer.pk)
    assert (customer.customer_no, customer.name) == ("C000001", before)


def test_import_job_page_leaves_out_the_file(admin_client, users):
    job = ImportJob.objects.create(
        kind="policies", file="imports/x.csv", original_name="x.csv", file_sha256="0" * 64, file_format="csv"
    )
    html = admin_client.get(f"/admin/records/importjob/{job.pk}/change/").content.decode()
    assert "x.csv" in html and "imports/x.csv" not in html


def test_salesperson_is_editable(admin_client, gd_customer):
    sp = Salesperson.objects.get(code="S001")
    response = admin_client.post(
        f"/admin/records/salesperson/{sp.pk}/change/",
        {
            "name": "李业务员",
            "org_unit": sp.org_unit_id,
            "channel": "bank",
            "status": "departed",
            "departed_on": "2026-06-30",
            "staff_user": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    sp.refresh_from_db()
    assert (sp.code, sp.name, sp.status) == ("S001", "李业务员", "departed")


def test_product_is_editable_but_not_the_facts_policies_derive_from(admin_client, products):
    product = Product.objects.get(code="LIFE20")
    response = admin_client.post(
        f"/admin/records/product/{product.pk}/change/",
        {
            "name": "鑫福终身寿险（2026版）",
            "high_risk": "on",
            "script_code": "S-LIFE",
            "active": "on",
            "cooling_off_days": 30,
            "code": "CHANGED",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    product.refresh_from_db()
    assert (product.name, product.high_risk, product.script_code) == (
        "鑫福终身寿险（2026版）",
        True,
        "S-LIFE",
    )
    assert (product.code, product.cooling_off_days) == ("LIFE20", 15)


@pytest.mark.parametrize("role", ["agent", "supervisor", "qa_inspector", "auditor", "norole"])
def test_records_admin_is_for_administrators_only(client, users, gd_customer, role):
    client.force_login(users[role])
    for url in ("/admin/records/customer/", "/admin/records/policy/", "/admin/records/salesperson/"):
        response = client.get(url, follow=True)
        assert response.status_code == 403, (role, url)
        assert_masked(response.content.decode())
