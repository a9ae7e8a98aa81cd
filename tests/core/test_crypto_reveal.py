import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from huifang.core.audit.events import PII_REVEALED
from huifang.core.audit.models import AuditEvent
from huifang.core.crypto.services import pii_reveal
from tests.testapp.keyring import use_keys
from tests.testapp.models import Memo, Person

pytestmark = pytest.mark.django_db

REASON = "客户来电核实身份"


@pytest.fixture(autouse=True)
def _keys(settings):
    use_keys(settings)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def person(org_tree):
    return Person.objects.create(
        code="P1",
        org_unit_id=org_tree["GZ"].pk,
        name="张三",
        id_number="11010119900307123X",
        phones=["13812341234", "13912345678"],
    )


def test_agent_in_scope_with_a_reason_sees_the_value_and_is_audited(users, person):
    assert pii_reveal(users["agent"], person, "id_number", REASON) == "11010119900307123X"
    event = AuditEvent.objects.get(event_type=PII_REVEALED.id)
    assert event.actor_id == users["agent"].pk
    assert (event.subject_type, event.subject_id) == ("testapp.person", str(person.pk))
    assert event.org_unit_id == person.org_unit_id
    assert event.rule == "PV-10"
    assert event.data == {"field": "id_number", "reason": REASON, "masked": "110101********123X"}
    assert "11010119900307123X" not in str(event.data)


def test_list_values_are_revealed_as_text_and_masked_per_item(users, person):
    assert pii_reveal(users["supervisor"], person, "phones", REASON) == "13812341234, 13912345678"
    event = AuditEvent.objects.get(event_type=PII_REVEALED.id)
    assert event.data["masked"] == "138****1234, 139****5678"


def test_reveal_reads_the_stored_value(users, person):
    person.name = "not saved"
    assert pii_reveal(users["agent"], person, "name", REASON) == "张三"
    assert AuditEvent.objects.get(event_type=PII_REVEALED.id).data["masked"] == "张*"


def test_scope_through_get_org_unit(users, person):
    memo = Memo.objects.create(person=person, body="客户要求晚上九点后勿扰")
    assert pii_reveal(users["agent"], memo, "body", REASON) == "客户要求晚上九点后勿扰"
    assert AuditEvent.objects.get(event_type=PII_REVEALED.id).data["masked"] == "****"
    with pytest.raises(PermissionDenied):
        pii_reveal(users["agent_js"], memo, "body", REASON)


@pytest.mark.parametrize("who", ["qa_inspector", "auditor", "norole"])
def test_refused_without_the_permission(users, person, who):
    with pytest.raises(PermissionDenied, match="permission"):
        pii_reveal(users[who], person, "id_number", REASON)
    assert not AuditEvent.objects.exists()


def test_refused_out_of_scope(users, person):
    with pytest.raises(PermissionDenied, match="outside your scope"):
        pii_reveal(users["agent_js"], person, "id_number", REASON)
    assert not AuditEvent.objects.exists()


def test_refused_for_an_anonymous_or_inactive_user(users, person):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(PermissionDenied):
        pii_reveal(AnonymousUser(), person, "id_number", REASON)
    agent = users["agent"]
    agent.is_active = False
    with pytest.raises(PermissionDenied):
        pii_reveal(agent, person, "id_number", REASON)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("reason", ["", "   ", None, "abc", " ab "])
def test_refused_without_a_real_reason(users, person, reason):
    with pytest.raises(ValidationError) as info:
        pii_reveal(users["agent"], person, "id_number", reason)
    assert info.value.code == "reason_required"
    assert not AuditEvent.objects.exists()


def test_refused_with_an_overlong_reason(users, person):
    with pytest.raises(ValidationError):
        pii_reveal(users["agent"], person, "id_number", "x" * 501)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("field", ["no_such_field", "org_unit", "memos"])
def test_refused_for_a_field_that_cannot_be_revealed(users, person, field):
    with pytest.raises(ValidationError) as info:
        pii_reveal(users["agent"], person, field, REASON)
    assert info.value.code == "invalid_field"
    assert not AuditEvent.objects.exists()


def test_record_without_org_unit_only_for_users_who_see_everything(users, person, make_user):
    from huifang.core.permissions import Role

    person.org_unit_id = None
    person.save()
    with pytest.raises(PermissionDenied):
        pii_reveal(users["agent"], person, "name", REASON)
    admin = make_user("admin2", Role.ADMIN, "HO")  # administrators see every org unit
    assert pii_reveal(admin, person, "name", REASON) == "张三"
    assert AuditEvent.objects.filter(event_type=PII_REVEALED.id).count() == 1
