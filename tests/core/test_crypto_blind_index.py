import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huifang.core.crypto.blind_index import KINDS, blind_index, normalise
from tests.testapp.keyring import INDEX_KEY, KEY2, use_keys


@pytest.fixture(autouse=True)
def _keys(settings):
    use_keys(settings)


@pytest.mark.parametrize(
    ("typed", "kind", "expected"),
    [
        (" 11010119900307123x ", "id_number", "11010119900307123X"),
        ("110101 19900307 123X", "id_number", "11010119900307123X"),
        ("１１０１０１１９９００３０７１２３ｘ", "id_number", "11010119900307123X"),  # full-width
        ("138 1234 1234", "phone", "13812341234"),
        ("+86 138-1234-1234", "phone", "13812341234"),
        ("8613812341234", "phone", "13812341234"),
        ("0086 13812341234", "phone", "13812341234"),
        ("(020) 8765-4321", "phone", "02087654321"),
        ("8612345678", "phone", "8612345678"),  # not a country code: too short
        (" Zhang.San@Example.COM ", "email", "zhang.san@example.com"),
        (" 张 三 ", "name", "张三"),
        ("  a b  ", "text", "a b"),
    ],
)
def test_normalisation(typed, kind, expected):
    assert normalise(typed, kind) == expected


def test_equal_values_typed_differently_share_an_index():
    assert blind_index("11010119900307123x", "id_number") == blind_index("11010119900307123X ", "id_number")
    assert blind_index("+86 138 1234 1234", "phone") == blind_index("13812341234", "phone")


def test_deterministic_hex_64_and_hmac_sha256_over_kind_and_value():
    a = blind_index("13812341234", "phone")
    assert a == blind_index("13812341234", "phone")
    assert len(a) == 64 and int(a, 16) >= 0
    assert a == hmac.new(INDEX_KEY, b"phone\x0013812341234", hashlib.sha256).hexdigest()


def test_different_values_and_kinds_give_different_indexes():
    assert blind_index("13812341234", "phone") != blind_index("13812341235", "phone")
    assert blind_index("13812341234", "phone") != blind_index("13812341234", "id_number")
    assert blind_index("13812341234", "text") != blind_index("13812341234", "name")


def test_index_depends_on_the_index_key_not_the_data_keys(settings):
    before = blind_index("13812341234", "phone")
    use_keys(settings, {"k1": KEY2}, active="k1")  # data key rotated: index unchanged
    assert blind_index("13812341234", "phone") == before
    use_keys(settings, index_key=bytes(range(1, 33)))
    assert blind_index("13812341234", "phone") != before


def test_sm_mode_uses_hmac_sm3(settings):
    aes = blind_index("13812341234", "phone")
    use_keys(settings, mode="sm")
    sm = blind_index("13812341234", "phone")
    assert len(sm) == 64 and sm != aes
    assert sm == blind_index("+8613812341234", "phone")


def test_empty_values_have_no_index():
    assert blind_index("", "phone") == ""
    assert blind_index(None, "id_number") == ""
    assert blind_index("---", "phone") == ""


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown blind index kind"):
        blind_index("x", "passport")
    with pytest.raises(ValueError):
        blind_index(None, "passport")


@given(st.text(max_size=40), st.sampled_from(KINDS))
def test_normalisation_is_idempotent(value, kind):
    once = normalise(value, kind)
    assert normalise(once, kind) == once
