"""Working-day calendar in the admin: the warning on the index, the year list, "Confirm a year"."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from huifang.core.audit.events import CALENDAR_YEAR_CONFIRMED
from huifang.core.audit.models import AuditEvent
from huifang.core.calendar.models import WorkCalendarDay, WorkCalendarYear
from huifang.core.calendar.services import calendar_cache_clear
from huifang.core.permissions import Role

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
WARNING = "2027 working-day calendar is not confirmed; deadlines in 2027 cannot be computed."
CONFIRM_URL = "admin:workcalendar_workcalendaryear_confirm"
FILE_2027 = "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-13,workday,调休上班\n"


@pytest.fixture(autouse=True)
def fresh_cache(client):
    calendar_cache_clear()
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the assertions read the English msgids
    with translation.override("en"):
        yield
    calendar_cache_clear()


@pytest.fixture
def admin_user(make_user):
    return make_user("caladmin", Role.ADMIN, "HO", is_staff=True)


@pytest.fixture
def staff_without_cap(make_user):
    # May open the admin (staff, and an auditor reads the audit trail there) but not administer.
    return make_user("calauditor", Role.AUDITOR, "HO", is_staff=True)


def get(client, user, url):
    client.force_login(user)
    return client.get(url)


def test_admin_index_warns_from_1_november_while_next_year_is_unconfirmed(client, admin_user):
    with time_machine.travel(datetime(2026, 11, 5, 10, 0, tzinfo=SHANGHAI), tick=False):
        response = get(client, admin_user, reverse("admin:index"))
    assert response.status_code == 200
    assert WARNING in response.content.decode()


def test_admin_index_is_quiet_before_november(client, admin_user):
    with time_machine.travel(datetime(2026, 10, 15, 10, 0, tzinfo=SHANGHAI), tick=False):
        response = get(client, admin_user, reverse("admin:index"))
    assert response.status_code == 200
    assert "working-day calendar is not confirmed" not in response.content.decode()


def test_year_list_shows_confirmed_count_and_disagreements(client, admin_user):
    response = get(client, admin_user, reverse("admin:workcalendar_workcalendaryear_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "holidays+chinesecalendar" in html and ">248<" in html
    assert reverse(CONFIRM_URL) in html  # the "Confirm a year" button
    detail = get(
        client,
        admin_user,
        reverse(
            "admin:workcalendar_workcalendaryear_change", args=[WorkCalendarYear.objects.get(year=2005).pk]
        ),
    )
    assert (
        "2005-12-31: stored as Make-up working day; chinesecalendar says a non-working day"
        in detail.content.decode()
    )
    days = get(
        client,
        admin_user,
        reverse("admin:workcalendar_workcalendarday_changelist") + "?date__year=2026&kind=makeup",
    )
    assert days.status_code == 200 and "Feb. 14, 2026" in days.content.decode()


def test_confirm_year_by_upload(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse(CONFIRM_URL),
        {
            "year": "2027",
            "source": "国办发明电〔2026〕",
            "file": SimpleUploadedFile("2027.csv", FILE_2027.encode()),
        },
    )
    assert response.status_code == 302
    row = WorkCalendarYear.objects.get(year=2027)
    assert row.confirmed and row.confirmed_by == admin_user and row.working_day_count == 261 - 1 + 1
    event = AuditEvent.objects.get(event_type=CALENDAR_YEAR_CONFIRMED.id)
    assert event.actor_id == admin_user.pk and event.data["year"] == 2027


def test_confirm_year_with_a_bad_file_changes_nothing(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse(CONFIRM_URL),
        {"year": "2027", "source": "x", "file": SimpleUploadedFile("2027.csv", b"2028-01-01,holiday\n")},
    )
    assert response.status_code == 200
    assert "line 1: 2028-01-01 is not in 2027." in response.content.decode()
    assert not WorkCalendarYear.objects.filter(year=2027).exists()
    assert not AuditEvent.objects.filter(event_type=CALENDAR_YEAR_CONFIRMED.id).exists()


def test_confirm_without_a_file_needs_stored_days(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse(CONFIRM_URL), {"year": "2027", "source": "x"})
    assert response.status_code == 200
    assert "No days are stored for 2027" in response.content.decode()


@pytest.mark.parametrize("method", ["get", "post"])
def test_confirm_year_is_refused_without_the_capability(client, staff_without_cap, method):
    client.force_login(staff_without_cap)
    data = {"year": "2027", "source": "x", "file": SimpleUploadedFile("2027.csv", FILE_2027.encode())}
    response = (
        client.get(reverse(CONFIRM_URL)) if method == "get" else client.post(reverse(CONFIRM_URL), data)
    )
    assert response.status_code == 403
    assert "file" not in response.content.decode()  # no form
    assert not WorkCalendarYear.objects.filter(year=2027).exists()
    assert not AuditEvent.objects.filter(event_type=CALENDAR_YEAR_CONFIRMED.id).exists()
    listing = client.get(reverse("admin:workcalendar_workcalendaryear_changelist"))
    assert listing.status_code == 403


def test_superuser_may_confirm(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "Huifang-test-2026")
    client.force_login(root)
    assert client.get(reverse(CONFIRM_URL)).status_code == 200


def test_confirm_stored_years_by_admin_action(client, admin_user):
    WorkCalendarYear.objects.filter(year=2005).update(confirmed=False)
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:workcalendar_workcalendaryear_changelist"),
        {"action": "confirm_as_stored", "_selected_action": [WorkCalendarYear.objects.get(year=2005).pk]},
        follow=True,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "2005 confirmed: 251 working days." in html
    assert "1 disagreement with chinesecalendar" in html
    row = WorkCalendarYear.objects.get(year=2005)
    assert row.confirmed and row.confirmed_by == admin_user
    assert WorkCalendarDay.objects.filter(year=row).count() == 365


def test_admin_pages_do_not_allow_editing(client, admin_user):
    row = WorkCalendarYear.objects.get(year=2026)
    client.force_login(admin_user)
    url = reverse("admin:workcalendar_workcalendaryear_change", args=[row.pk])
    client.post(url, {"year": "2026", "confirmed": "", "source": "edited"})
    row.refresh_from_db()
    assert row.confirmed and row.source == "holidays+chinesecalendar"
    assert client.get(reverse("admin:workcalendar_workcalendaryear_add")).status_code == 403
