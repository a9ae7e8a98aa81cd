"""The e-callback services: link, code, identity, items, switch, lock-out, expiry, evidence."""

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from huifang.callbacks.models import Attempt, Channel, ProblemCase, TaskStatus
from huifang.core.audit.models import AuditEvent
from huifang.notify.models import Message
from huifang.selfservice import services as s
from huifang.selfservice.models import ECallbackLink, ECallbackStep, EvidenceBundle, LinkStatus
from huifang.selfservice.selectors import ecallback_evidence_for_task
from tests.selfservice.conftest import last_code

META = s.ClientMeta(ip="10.1.2.3", user_agent="Mozilla/5.0 (iPhone)")
pytestmark = pytest.mark.django_db


def _token(url: str) -> str:
    return url.rstrip("/").split("/e/")[1]


def _verified(task):
    link, url = s.ecallback_start(task)
    s.ecallback_code_send(link, META)
    key = s.ecallback_code_verify(link, last_code(), META)
    return ECallbackLink.objects.get(pk=link.pk), key


def test_start_sends_a_signed_link_without_the_task_id(etask):
    link, url = s.ecallback_start(etask)
    token = _token(url)
    assert str(etask.pk) not in token.split(":")[0] or len(token.split(":")[0]) >= 32
    assert link.token_hash not in url and len(link.token_hash) == 64
    assert s.link_by_token(token) == link
    message = Message.objects.get(kind="ecallback_link")
    assert url in message.text and message.to_masked == "138****1234"
    assert link.expires_at <= etask.channel_due_at
    assert link.steps.get().kind == ECallbackStep.Kind.LINK_SENT
    assert AuditEvent.objects.filter(event_type="ecallback.link_sent").count() == 1


def test_a_new_link_supersedes_the_old_one(etask):
    old, old_url = s.ecallback_start(etask)
    new, _ = s.ecallback_start(etask)
    old.refresh_from_db()
    assert old.status == LinkStatus.SUPERSEDED and new.status == LinkStatus.ACTIVE
    assert EvidenceBundle.objects.filter(link=old).exists()
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_send(old, META)
    assert exc.value.status == 410


def test_start_refused_for_a_phone_task(etask):
    etask.channel = Channel.PHONE
    etask.save(update_fields=["channel"])
    with pytest.raises(s.ECallbackRefused):
        s.ecallback_start(etask)
    assert not ECallbackLink.objects.exists()


def test_tampered_and_foreign_tokens_open_nothing(make_etask):
    a, url_a = s.ecallback_start(make_etask(1))
    b, url_b = s.ecallback_start(make_etask(2))
    token_a = _token(url_a)
    secret, ts, sig = token_a.split(":")
    assert s.link_by_token(f"{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}:{ts}:{sig}") is None
    assert s.link_by_token(f"{secret}:{ts}:{sig[:-2]}xx") is None
    assert s.link_by_token(_token(url_b).split(":")[0] + f":{ts}:{sig}") is None  # b's secret, a's signature
    assert s.link_by_token("") is None and s.link_by_token("x" * 500) is None
    assert s.link_by_token(token_a) == a


def test_code_hashed_valid_5_minutes_and_once(etask, h5_clock):
    link, _ = s.ecallback_start(etask)
    s.ecallback_code_send(link, META)
    link.refresh_from_db()
    code = last_code()
    assert len(code) == 6 and code not in link.otp_hash
    h5_clock.shift(timedelta(minutes=5, seconds=1))
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_verify(link, code, META)
    assert exc.value.code == "code_expired"
    link.refresh_from_db()
    assert link.verified_at is None and link.otp_failures == 0


def test_resend_limited(etask, h5_clock):
    link, _ = s.ecallback_start(etask)
    s.ecallback_code_send(link, META)
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_send(link, META)
    assert exc.value.code == "too_soon"
    for _ in range(s.OTP_MAX_SENDS - 1):
        h5_clock.shift(timedelta(seconds=61))
        s.ecallback_code_send(link, META)
    h5_clock.shift(timedelta(seconds=61))
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_send(link, META)
    assert exc.value.code == "sends_used"
    assert Message.objects.filter(kind="ecallback_code").count() == s.OTP_MAX_SENDS


def test_right_code_works_once(etask):
    link, _ = s.ecallback_start(etask)
    s.ecallback_code_send(link, META)
    code = last_code()
    key = s.ecallback_code_verify(link, code, META)
    link.refresh_from_db()
    assert s.browser_key_valid(link, key) and not s.browser_key_valid(link, key + "x")
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_verify(link, code, META)
    assert exc.value.code == "no_code"


def test_five_wrong_codes_lock_and_make_phone_due(etask):
    link, _ = s.ecallback_start(etask)
    s.ecallback_code_send(link, META)
    right = last_code()
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    for i in range(4):
        with pytest.raises(s.ECallbackRefused) as exc:
            s.ecallback_code_verify(link, wrong, META)
        assert exc.value.code == "wrong"
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_verify(link, wrong, META)
    assert exc.value.code == "locked"
    link.refresh_from_db()
    etask.refresh_from_db()
    assert link.status == LinkStatus.LOCKED
    assert etask.channel == Channel.PHONE and etask.channel_due_at <= timezone.now()
    # The right code no longer helps.
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_verify(link, right, META)
    assert exc.value.status == 410
    assert EvidenceBundle.objects.get(link=link).outcome == LinkStatus.LOCKED


def test_malformed_code_is_not_counted(etask):
    link, _ = s.ecallback_start(etask)
    s.ecallback_code_send(link, META)
    for bad in ("", "12345", "abcdef", "１２３４５６", "1234567"):
        with pytest.raises(s.ECallbackRefused) as exc:
            s.ecallback_code_verify(link, bad, META)
        assert exc.value.code == "format"
    link.refresh_from_db()
    assert link.otp_failures == 0


def test_per_ip_limit_on_code_checks(make_etask):
    limit = s.IP_LIMITS["code_verify"][0]
    links = []
    for n in range(1, 7):
        link, _ = s.ecallback_start(make_etask(n))
        s.ecallback_code_send(link, s.ClientMeta(ip=f"10.0.0.{n}"))
        links.append(link)
    tries = 0
    refused = None
    for link in links:
        for _ in range(4):
            try:
                s.ecallback_code_verify(link, "000000", META)
            except s.ECallbackRefused as exc:
                tries += 1
                if exc.code == "rate_ip":
                    refused = tries
                    break
        if refused:
            break
    assert refused == limit + 1
    # Another network is not affected.
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_verify(links[-1], "000000", s.ClientMeta(ip="10.9.9.9"))
    assert exc.value.code == "wrong"


def test_success_path_submits_a_reached_attempt_and_seals(etask):
    link, key = _verified(etask)
    link = s.ecallback_identity(link, True, META, browser_key=key)
    items = s.question_items(link)
    assert {"purchase_signature", "cooling_off", "payment_terms"} <= {i.code for i in items}
    assert all("{" not in i.text for i in items)
    for item in items:
        link = s.ecallback_answer(link, item.code, "yes", META, browser_key=key)
    assert link.status == LinkStatus.FINISHED
    etask.refresh_from_db()
    assert etask.status == TaskStatus.SUCCESS
    attempt = Attempt.objects.get(task=etask)
    assert attempt.channel == Channel.ELECTRONIC and attempt.agent is None
    assert attempt.identity_confirmed and attempt.evidence["ecallback_link_id"] == link.pk
    bundle = EvidenceBundle.objects.get(link=link)
    assert s.evidence_verify(bundle)
    sealed = AuditEvent.objects.get(event_type="ecallback.evidence_sealed", data__link_id=link.pk)
    assert sealed.data["sha256"] == bundle.sha256 and sealed.seq == bundle.audit_seq
    steps = list(link.steps.order_by("seq"))
    answers = [st for st in steps if st.kind == ECallbackStep.Kind.ANSWER]
    assert len(answers) == len(items)
    assert all(
        st.ip == "10.1.2.3" and "iPhone" in st.user_agent and st.item_text and len(st.text_sha256) == 64
        for st in answers
    )
    assert bundle.retain_until is None and "EC-04" in bundle.retention_basis
    # A finished link works no more.
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_send(link, META)
    assert exc.value.status == 410


def test_no_answer_opens_a_problem_case_and_phone(etask):
    link, key = _verified(etask)
    link = s.ecallback_identity(link, True, META, browser_key=key)
    first, second = s.question_items(link)[:2]
    link = s.ecallback_answer(link, first.code, "yes", META, browser_key=key)
    link = s.ecallback_answer(link, second.code, "no", META, browser_key=key)
    assert link.status == LinkStatus.PROBLEM
    case = ProblemCase.objects.get(task=etask)
    assert case.item_code == second.code and link.problem_case_numbers == [case.number]
    etask.refresh_from_db()
    assert etask.status == TaskStatus.PROBLEM_FOUND and etask.channel == Channel.PHONE
    attempt = Attempt.objects.get(task=etask)
    assert attempt.disposition == Attempt.Disposition.STOPPED
    assert attempt.answers[second.code]["answer"] == "no"
    assert EvidenceBundle.objects.get(link=link).outcome == LinkStatus.PROBLEM


def test_answers_only_in_order_and_only_once(etask):
    link, key = _verified(etask)
    items = s.question_items(link)
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_answer(link, items[0].code, "yes", META, browser_key=key)
    assert exc.value.code == "identity_first"
    link = s.ecallback_identity(link, True, META, browser_key=key)
    with pytest.raises(s.ECallbackRefused):
        s.ecallback_answer(link, items[1].code, "yes", META, browser_key=key)
    link = s.ecallback_answer(link, items[0].code, "yes", META, browser_key=key)
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_answer(link, items[0].code, "no", META, browser_key=key)
    assert exc.value.code == "not_current"
    with pytest.raises(s.ECallbackRefused):
        s.ecallback_answer(link, items[1].code, "maybe", META, browser_key=key)
    link.refresh_from_db()
    assert link.answers[items[0].code] == "yes" and items[1].code not in link.answers


def test_answers_need_the_verified_browser(etask):
    link, key = _verified(etask)
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_identity(link, True, META, browser_key="stolen")
    assert exc.value.code == "not_verified"
    link.refresh_from_db()
    assert link.identity_confirmed_at is None


def test_not_the_policyholder_ends_with_phone(etask):
    link, key = _verified(etask)
    link = s.ecallback_identity(link, False, META, browser_key=key)
    assert link.status == LinkStatus.NOT_HOLDER
    etask.refresh_from_db()
    assert etask.channel == Channel.PHONE and etask.status == TaskStatus.PENDING
    assert Attempt.objects.get(task=etask).disposition == Attempt.Disposition.NOT_POLICYHOLDER


def test_switch_to_phone_at_the_preferred_time(etask):
    link, key = _verified(etask)
    link = s.ecallback_identity(link, True, META, browser_key=key)
    link = s.ecallback_switch(link, "evening", META, browser_key=key)
    assert link.status == LinkStatus.SWITCHED
    etask.refresh_from_db()
    due = timezone.localtime(etask.channel_due_at)
    assert etask.channel == Channel.PHONE and (due.date(), due.hour) == (date(2026, 3, 4), 18)
    assert Attempt.objects.get(task=etask).disposition == Attempt.Disposition.STOPPED
    with pytest.raises(s.ECallbackRefused):
        s.ecallback_switch(link, "asap", META)


def test_switch_refuses_an_unknown_slot(etask):
    link, _ = s.ecallback_start(etask)
    with pytest.raises(s.ECallbackRefused):
        s.ecallback_switch(link, "midnight", META)
    link.refresh_from_db()
    etask.refresh_from_db()
    assert link.status == LinkStatus.ACTIVE and etask.channel == Channel.ELECTRONIC


def test_preferred_time_respects_quiet_hours(etask, h5_clock):
    h5_clock.move_to(timezone.make_aware(timezone.datetime(2026, 3, 4, 22, 30)), tick=False)
    due = timezone.localtime(s.preferred_due(etask.customer, "asap", timezone.now()))
    assert (due.day, due.hour) == (5, 9)


def test_link_expires_at_the_fallback_point(etask, h5_clock):
    link, _ = s.ecallback_start(etask)
    h5_clock.move_to(link.expires_at + timedelta(minutes=1), tick=False)
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_send(link, META)
    assert exc.value.status == 410
    link.refresh_from_db()
    assert link.status == LinkStatus.EXPIRED


def test_fallback_sweep_expires_links_and_moves_to_phone(etask, h5_clock):
    from huifang.selfservice.tasks import fallback_sweep

    link, _ = s.ecallback_start(etask)
    h5_clock.move_to(etask.channel_due_at + timedelta(minutes=1), tick=False)
    result = fallback_sweep.call()
    assert result["links_expired"] == 1 and result["moved_to_phone"] == 1
    link.refresh_from_db()
    etask.refresh_from_db()
    assert link.status == LinkStatus.EXPIRED and etask.channel == Channel.PHONE


def test_start_due_starts_electronic_tasks_once(make_etask):
    make_etask(1)
    make_etask(2)
    assert s.ecallback_start_due() == 2
    assert s.ecallback_start_due() == 0


def test_evidence_is_append_only(etask):
    link, key = _verified(etask)
    s.ecallback_switch(link, "asap", META, browser_key=key)
    step = ECallbackStep.objects.filter(link=link).first()
    bundle = EvidenceBundle.objects.get(link=link)
    for action in (
        lambda: ECallbackStep.objects.filter(pk=step.pk).update(answer="yes"),
        lambda: ECallbackStep.objects.filter(pk=step.pk).delete(),
        lambda: EvidenceBundle.objects.filter(pk=bundle.pk).update(sha256="0" * 64),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            action()
    assert s.evidence_verify(bundle)


def test_retention_ten_years_from_termination(etask):
    policy = etask.policy
    policy.termination_date = date(2046, 3, 1)
    assert s.retention_of(policy)[0] == date(2056, 3, 1)
    policy.termination_date = date(2028, 2, 29)
    assert s.retention_of(policy)[0] == date(2038, 2, 28)


def test_selector_shows_the_bundle(etask, django_assert_max_num_queries):
    link, key = _verified(etask)
    s.ecallback_switch(link, "asap", META, browser_key=key)
    with django_assert_max_num_queries(6):
        [entry] = ecallback_evidence_for_task(etask)
    assert entry["bundle"].sha256 and entry["intact"] is True and len(entry["steps"]) >= 4


def test_jobs_are_scheduled():
    from huifang.core.jobs import discover_periodic_jobs

    names = {job.name for job in discover_periodic_jobs()}
    assert {"selfservice.fallback_sweep", "selfservice.start_due"} <= names


def test_start_due_sends_no_texts_at_night(make_etask, h5_clock):
    make_etask(1)
    h5_clock.move_to(timezone.make_aware(timezone.datetime(2026, 3, 4, 22, 0)), tick=False)
    assert s.ecallback_start_due() == 0
    assert not ECallbackLink.objects.exists()


def test_link_stops_when_the_task_moves_on(etask):
    from huifang.callbacks.channels import channel_to_phone

    link, _ = s.ecallback_start(etask)
    channel_to_phone(etask, reason="EC-05: an agent called")
    with pytest.raises(s.ECallbackRefused) as exc:
        s.ecallback_code_send(link, META)
    assert exc.value.status == 410
    link.refresh_from_db()
    assert link.status == LinkStatus.MOVED_ON and EvidenceBundle.objects.filter(link=link).exists()
    assert not Message.objects.filter(kind="ecallback_code").exists()
