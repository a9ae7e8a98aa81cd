import pytest
from django.core.exceptions import FieldError
from django.db import connection, models
from django.test.utils import isolate_apps

from huifang.core.crypto.blind_index import blind_index
from huifang.core.crypto.cipher import decrypt_str, token_header
from huifang.core.crypto.fields import EncryptedJSONField, EncryptedTextField, encrypted_fields_registry
from tests.testapp.keyring import KEY1, KEY2, use_keys
from tests.testapp.models import Memo, Person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keys(settings):
    use_keys(settings)


def raw_row(model, pk, *columns):
    """The stored column values, bypassing the fields."""
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {cols} FROM {table} WHERE id = %s", [pk])
        return cur.fetchone()


def make_person(code="P1", **kwargs):
    defaults = {"name": "张三", "id_number": "11010119900307123X", "phones": ["13812341234", "13912345678"]}
    return Person.objects.create(code=code, **{**defaults, **kwargs})


def test_values_are_stored_as_tokens_and_read_back_as_plaintext():
    p = make_person()
    name, id_number, phones = raw_row(Person, p.pk, "name", "id_number", "phones")
    for stored in (name, id_number, phones):
        assert stored.startswith("hf1:a256gcm:k1:")
    assert "张三" not in name and "13812341234" not in phones
    assert decrypt_str(phones) == '["13812341234","13912345678"]'
    assert p.name == "张三"  # the instance keeps the plaintext after save
    fresh = Person.objects.get(pk=p.pk)
    assert (fresh.name, fresh.id_number, fresh.phones) == (
        "张三",
        "11010119900307123X",
        ["13812341234", "13912345678"],
    )


def test_none_and_empty_string_are_not_encrypted():
    p = make_person(name="", id_number=None, phones=[])
    name, id_number, phones = raw_row(Person, p.pk, "name", "id_number", "phones")
    assert name == "" and id_number is None
    assert phones.startswith("hf1:")  # an empty list is still a JSON value
    fresh = Person.objects.get(pk=p.pk)
    assert (fresh.name, fresh.id_number, fresh.phones) == ("", None, [])
    memo = Memo.objects.create(person=p, body="x", extra=None)
    assert raw_row(Memo, memo.pk, "extra") == (None,)
    assert Memo.objects.get(pk=memo.pk).extra is None


def test_json_field_keeps_structure():
    p = make_person()
    value = {"phones": ["13812341234"], "quiet": {"from": "21:00", "to": "08:00"}, "n": 3, "ok": True}
    memo = Memo.objects.create(person=p, body="备注", extra=value)
    assert Memo.objects.get(pk=memo.pk).extra == value


def test_values_and_values_list_decrypt():
    make_person("P1", name="张三")
    make_person("P2", name="李四", phones=["13700000000"])
    assert list(Person.objects.order_by("code").values_list("name", flat=True)) == ["张三", "李四"]
    assert list(Person.objects.order_by("code").values_list("code", "phones")) == [
        ("P1", ["13812341234", "13912345678"]),
        ("P2", ["13700000000"]),
    ]
    assert Person.objects.values("id_number").get(code="P2") == {"id_number": "11010119900307123X"}


def test_bulk_create_with_update_conflicts_encrypts_inserts_and_updates():
    Person.objects.bulk_create(
        [Person(code="P1", name="张三", phones=["13812341234"]), Person(code="P2", name="李四")],
    )
    rows = [
        Person(code="P1", name="张三丰", id_number="110101199003071234", phones=["13800000000"]),
        Person(code="P3", name="王五", id_number="", phones=["13900000000"]),
    ]
    Person.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name", "id_number", "phones"],
    )
    got = {p.code: (p.name, p.id_number, p.phones) for p in Person.objects.all()}
    assert got == {
        "P1": ("张三丰", "110101199003071234", ["13800000000"]),
        "P2": ("李四", None, []),
        "P3": ("王五", "", ["13900000000"]),
    }
    p1 = Person.objects.get(code="P1")
    assert raw_row(Person, p1.pk, "name")[0].startswith("hf1:a256gcm:k1:")


def test_bulk_update_and_queryset_update_encrypt():
    p = make_person()
    p.name = "赵六"
    Person.objects.bulk_update([p], ["name"])
    assert Person.objects.get(pk=p.pk).name == "赵六"
    Person.objects.filter(pk=p.pk).update(id_number="440101199001011234")
    assert raw_row(Person, p.pk, "id_number")[0].startswith("hf1:")
    assert Person.objects.get(pk=p.pk).id_number == "440101199001011234"


def test_exact_search_goes_through_the_blind_index():
    make_person(
        "P1", id_number="11010119900307123X", id_number_index=blind_index("11010119900307123X", "id_number")
    )
    make_person(
        "P2", id_number="440101199001011234", id_number_index=blind_index("440101199001011234", "id_number")
    )
    typed = " 11010119900307123x"
    assert Person.objects.get(id_number_index=blind_index(typed, "id_number")).code == "P1"


@pytest.mark.parametrize(
    "lookup",
    [{"name": "张三"}, {"name__icontains": "张"}, {"name__in": ["张三"]}, {"phones__contains": "138"}],
)
def test_searching_encrypted_values_is_refused(lookup):
    make_person()
    with pytest.raises(FieldError, match="encrypted and cannot be searched"):
        list(Person.objects.filter(**lookup))


def test_isnull_and_empty_lookups_work():
    make_person("P1", id_number=None, name="")
    make_person("P2")
    assert list(Person.objects.filter(id_number__isnull=True).values_list("code", flat=True)) == ["P1"]
    assert list(Person.objects.filter(id_number=None).values_list("code", flat=True)) == ["P1"]
    assert list(Person.objects.filter(name="").values_list("code", flat=True)) == ["P1"]
    assert list(Person.objects.exclude(name="").values_list("code", flat=True)) == ["P2"]


def test_rows_under_an_old_key_still_load_after_rotation(settings):
    p = make_person()
    use_keys(settings, {"k1": KEY1, "k2": KEY2}, active="k2")
    assert Person.objects.get(pk=p.pk).name == "张三"
    p.name = "张三"
    p.save()
    assert token_header(raw_row(Person, p.pk, "name")[0]) == ("a256gcm", "k2")
    assert token_header(raw_row(Person, p.pk, "id_number")[0]) == ("a256gcm", "k2")  # save() writes all


def test_sm_mode_writes_sm4_tokens(settings):
    use_keys(settings, mode="sm")
    p = make_person()
    assert token_header(raw_row(Person, p.pk, "name")[0]) == ("sm4gcm", "k1")
    assert Person.objects.get(pk=p.pk).phones == ["13812341234", "13912345678"]


def test_deconstruct_is_stable():
    for field_cls, kwargs in [
        (EncryptedTextField, {"blank": True, "pii_kind": "name"}),
        (EncryptedTextField, {"null": True}),
        (EncryptedJSONField, {"default": list, "blank": True, "pii_kind": "phone"}),
    ]:
        field = field_cls(**kwargs)
        name, path, args, kw = field.deconstruct()
        assert path == f"huifang.core.crypto.fields.{field_cls.__name__}"
        assert args == [] and kw == kwargs
        assert field_cls(*args, **kw).deconstruct()[1:] == (path, args, kw)


def test_registry_lists_every_encrypted_field():
    pairs = {(m._meta.label_lower, f.name) for m, f in encrypted_fields_registry()}
    assert {
        ("testapp.person", "name"),
        ("testapp.person", "id_number"),
        ("testapp.person", "phones"),
        ("testapp.memo", "body"),
        ("testapp.memo", "extra"),
    } <= pairs
    assert not any(label == "testapp.person" and name == "code" for label, name in pairs)


@isolate_apps("tests.testapp")
def test_checks_refuse_indexed_encrypted_fields_and_unknown_kinds():
    class Bad(models.Model):
        secret = EncryptedTextField(unique=True)
        other = EncryptedTextField(db_index=True, pii_kind="shoe_size")

        class Meta:
            app_label = "testapp"

    ids = [e.id for e in Bad._meta.get_field("secret").check()]
    assert "huifang.crypto.E002" in ids
    ids = [e.id for e in Bad._meta.get_field("other").check()]
    assert "huifang.crypto.E002" in ids and "huifang.crypto.E003" in ids
    assert Person._meta.get_field("name").check() == []
