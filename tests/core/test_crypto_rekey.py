import pytest
from django.core.management import call_command
from django.db import connection

from huifang.core.audit.events import CRYPTO_REKEYED
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.services import audit_chain_verify
from huifang.core.crypto.cipher import UnknownKeyError, token_header
from huifang.core.crypto.services import crypto_rekey, crypto_status
from tests.testapp.keyring import KEY1, KEY2, use_keys
from tests.testapp.models import Memo, Person

pytestmark = pytest.mark.django_db

ENCRYPTED = {"testapp.person": ["name", "id_number", "phones"], "testapp.memo": ["body", "extra"]}


def stored_tokens():
    """Every non-empty stored token of the test models, read with SQL."""
    tokens = []
    with connection.cursor() as cur:
        for table, cols in (
            ("testapp_person", ENCRYPTED["testapp.person"]),
            ("testapp_memo", ENCRYPTED["testapp.memo"]),
        ):
            cur.execute(f"SELECT {', '.join(cols)} FROM {table}")
            tokens += [v for row in cur.fetchall() for v in row if v]
    return tokens


def plaintexts():
    people = [(p.code, p.name, p.id_number, p.phones) for p in Person.objects.order_by("code")]
    memos = [(m.body, m.extra) for m in Memo.objects.order_by("pk")]
    return people, memos


@pytest.fixture
def rows_under_k1(settings):
    use_keys(settings, {"k1": KEY1}, active="k1")
    people = [
        Person.objects.create(
            code=f"P{i}",
            name=f"客户{i}",
            id_number=None if i == 2 else f"11010119900307{i:03d}X",
            phones=[f"1381234{i:04d}"],
        )
        for i in range(7)
    ]
    Person.objects.create(code="EMPTY", name="", id_number="", phones=[])
    Memo.objects.create(person=people[0], body="回访备注", extra={"k": "v"})
    Memo.objects.create(person=people[1], body="另一条", extra=None)
    use_keys(settings, {"k1": KEY1, "k2": KEY2}, active="k2")
    return people


def test_rekey_moves_every_row_to_the_active_key_and_is_idempotent(rows_under_k1):
    before = plaintexts()
    assert {token_header(t)[1] for t in stored_tokens()} == {"k1"}

    counts = crypto_rekey(batch_size=3)
    assert counts["testapp.person"] == 8 and counts["testapp.memo"] == 2
    assert {token_header(t) for t in stored_tokens()} == {("a256gcm", "k2")}
    assert plaintexts() == before
    assert Person.objects.get(code="P2").id_number is None
    assert Person.objects.get(code="EMPTY").id_number == ""

    events = list(AuditEvent.objects.filter(event_type=CRYPTO_REKEYED.id))
    assert len(events) == 1
    assert events[0].data == {
        "active_key": "k2",
        "algorithm": "a256gcm",
        "counts": {"testapp.person": 8, "testapp.memo": 2},
        "total": 10,
        "completed": True,
    }
    assert audit_chain_verify().ok

    again = crypto_rekey(batch_size=3)
    assert set(again.values()) == {0}
    assert AuditEvent.objects.filter(event_type=CRYPTO_REKEYED.id).count() == 1  # nothing changed


def test_rekey_only_touches_stale_tokens(rows_under_k1):
    p = Person.objects.get(code="P0")
    p.save()  # now under k2 entirely
    m = Memo.objects.get(person=p)
    counts = crypto_rekey(batch_size=100)
    assert counts["testapp.person"] == 7
    assert counts["testapp.memo"] == 2
    assert Memo.objects.get(pk=m.pk).extra == {"k": "v"}


def test_rekey_switches_algorithm_to_sm4(rows_under_k1, settings):
    before = plaintexts()
    use_keys(settings, {"k1": KEY1, "k2": KEY2}, active="k2", mode="sm")
    crypto_rekey()
    assert {token_header(t) for t in stored_tokens()} == {("sm4gcm", "k2")}
    assert plaintexts() == before


def test_status_counts_rows_left_to_rekey(rows_under_k1):
    status = crypto_status(count_stale=True)
    assert status["stale_rows"]["testapp.person"] == 8
    assert status["encrypted_fields"]["testapp.person"] == ENCRYPTED["testapp.person"]
    crypto_rekey()
    assert set(crypto_status(count_stale=True)["stale_rows"].values()) == {0}


def test_rekey_with_a_missing_key_stops_and_says_which(rows_under_k1, settings):
    use_keys(settings, {"k2": KEY2}, active="k2")  # k1 dropped too early
    with pytest.raises(UnknownKeyError, match="'k1'"):
        crypto_rekey()
    assert not AuditEvent.objects.filter(event_type=CRYPTO_REKEYED.id).exists()


def test_rekey_command_prints_counts_per_model(rows_under_k1, capsys):
    call_command("crypto", "rekey", "--batch-size", "2")
    out = capsys.readouterr().out
    assert "testapp.person: 8 rows re-encrypted" in out
    assert "testapp.memo: 2 rows re-encrypted" in out
    assert "10 rows re-encrypted" in out
    call_command("crypto", "rekey")
    assert "rekey done: 0 rows" in capsys.readouterr().out
