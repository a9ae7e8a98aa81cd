import pytest
from django.template import Context, Template

from huifang.core.crypto.masking import (
    guess_kind,
    mask_address,
    mask_email,
    mask_for,
    mask_id_number,
    mask_name,
    mask_phone,
    mask_text,
)

ALL = [mask_phone, mask_id_number, mask_name, mask_email, mask_address, mask_text]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13812341234", "138****1234"),
        (13812341234, "138****1234"),
        (" 138 1234 1234 ", "138****1234"),
        ("+86 138-1234-1234", "138****1234"),
        ("0086 13812341234", "138****1234"),
        ("020-1234567", "******4567"),
        ("1234", "****"),
        ("12", "**"),
        ("n/a", "****"),
    ],
)
def test_mask_phone(value, expected):
    assert mask_phone(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("110101199003071234", "110101********1234"),
        ("11010119900307123X", "110101********123X"),
        ("11010119900307123x", "110101********123X"),
        (" 110101 19900307 123X ", "110101********123X"),
        ("110101900307123", "11***********23"),  # old 15-digit card
        ("E12345678", "E1*****78"),  # passport
        ("123", "***"),
    ],
)
def test_mask_id_number(value, expected):
    assert mask_id_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("张三", "张*"),
        ("李小明", "李**"),
        ("欧阳娜娜", "欧***"),
        ("买买提·艾力", "买*****"),
        ("张", "*"),
        (" 张三 ", "张*"),
        ("John Smith", "J*** S****"),
    ],
)
def test_mask_name(value, expected):
    assert mask_name(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zhang.san@example.com", "z***@example.com"),
        ("a@b.cn", "a***@b.cn"),
        ("not-an-address", "****"),
        ("@example.com", "****"),
    ],
)
def test_mask_email(value, expected):
    assert mask_email(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("广东省广州市天河区体育西路100号", "广东省广州市****"),
        ("北京市朝阳区", "北京****"),
        ("北京", "北京****"),
    ],
)
def test_mask_address(value, expected):
    assert mask_address(value) == expected


@pytest.mark.parametrize("masker", ALL)
@pytest.mark.parametrize("empty", [None, "", "   "])
def test_empty_values_mask_to_empty(masker, empty):
    assert masker(empty) == ""


@pytest.mark.parametrize("masker", ALL)
def test_masked_value_never_contains_the_middle(masker):
    assert "19900307" not in masker("110101199003071234")


def test_mask_for_dispatches_by_kind_and_handles_lists():
    assert mask_for("phone", "13812341234") == "138****1234"
    assert mask_for("id_number", "11010119900307123X") == "110101********123X"
    assert mask_for("id", "11010119900307123X") == "110101********123X"
    assert mask_for("name", "张三") == "张*"
    assert mask_for("email", "a@b.cn") == "a***@b.cn"
    assert mask_for("address", "北京市朝阳区建国路1号") == "北京市朝阳区****"
    assert mask_for("phone", ["13812341234", "", "13912345678"]) == "138****1234, 139****5678"
    assert mask_for("unknown", "secret") == "****"
    assert mask_for("text", {"a": 1}) == "****"
    assert mask_for("phone", None) == "" and mask_for("phone", []) == ""


@pytest.mark.parametrize(
    ("field_name", "kind"),
    [
        ("phone", "phone"),
        ("mobile_phones", "phone"),
        ("id_number", "id_number"),
        ("applicant_name", "name"),
        ("email", "email"),
        ("home_address", "address"),
        ("notes", "text"),
    ],
)
def test_guess_kind(field_name, kind):
    assert guess_kind(field_name) == kind


def test_template_filters_are_builtins():
    out = Template(
        "{{ p|mask_phone }} {{ i|mask_id }} {{ n|mask_name }} {{ e|mask_email }} {{ a|mask_address }} "
        '{{ ps|mask:"phone" }}'
    ).render(
        Context(
            {
                "p": "13812341234",
                "i": "110101199003071234",
                "n": "张三",
                "e": "a@b.cn",
                "a": "北京市朝阳区建国路1号",
                "ps": ["13812341234"],
            }
        )
    )
    assert out == "138****1234 110101********1234 张* a***@b.cn 北京市朝阳区**** 138****1234"
