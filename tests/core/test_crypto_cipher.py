import base64

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from huifang.core.crypto.cipher import (
    DecryptionError,
    UnknownKeyError,
    active_prefix,
    decrypt_str,
    encrypt_str,
    is_current,
    token_header,
)
from huifang.core.crypto.keys import keyring_reset
from tests.testapp.keyring import KEY1, KEY2, KEY16, use_keys

SAMPLES = ["张三", "110101199003071234", "", "a:b:c", "🙂 emoji", "x" * 10_000]


@pytest.fixture(autouse=True)
def _fresh_keyring():
    keyring_reset()
    yield
    keyring_reset()


@pytest.mark.parametrize(("mode", "alg"), [("aes", "a256gcm"), ("sm", "sm4gcm")])
def test_round_trip_in_both_modes(settings, mode, alg):
    use_keys(settings, mode=mode)
    for text in SAMPLES:
        token = encrypt_str(text)
        assert token.startswith(f"hf1:{alg}:k1:")
        assert text not in token or text == ""
        assert decrypt_str(token) == text


@given(st.text(max_size=200))
@hsettings(max_examples=200, deadline=None)
def test_round_trip_any_text(text):
    assert decrypt_str(encrypt_str(text)) == text


def test_token_is_self_describing_and_randomised(settings):
    use_keys(settings)
    a, b = encrypt_str("张三"), encrypt_str("张三")
    assert a != b  # fresh nonce each time
    assert token_header(a) == ("a256gcm", "k1")
    assert a.startswith(active_prefix()) and is_current(a)
    body = a.split(":", 3)[3]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert len(raw) == 12 + len("张三".encode()) + 16  # nonce | ciphertext | tag
    assert "=" not in body and "+" not in body and "/" not in body


def _flip(token: str, position: int) -> str:
    chars = list(token)
    chars[position] = "A" if chars[position] != "A" else "B"
    return "".join(chars)


@pytest.mark.parametrize("mode", ["aes", "sm"])
def test_tampered_token_raises(settings, mode):
    use_keys(settings, mode=mode)
    token = encrypt_str("110101199003071234")
    header_len = len(token) - len(token.split(":", 3)[3])
    for position in (header_len, header_len + 20, len(token) - 2):
        with pytest.raises(DecryptionError, match="failed authentication"):
            decrypt_str(_flip(token, position))
    with pytest.raises(DecryptionError, match="truncated"):
        decrypt_str(token[: header_len + 10])


def test_header_is_authenticated(settings):
    """Moving a token to another key id or algorithm breaks it even if that key decrypts."""
    use_keys(settings, {"k1": KEY1, "k2": KEY1 + b""}, active="k1")
    token = encrypt_str("张三")
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_str(token.replace(":k1:", ":k2:"))
    use_keys(settings, {"k1": KEY1}, mode="sm")
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_str(token.replace(":a256gcm:", ":sm4gcm:"))


@pytest.mark.parametrize(
    "bad", ["", "plain text", "hf1:a256gcm:k1", "hf2:a256gcm:k1:AAAA", "hf1:rot13:k1:AAAA"]
)
def test_malformed_tokens_raise(settings, bad):
    use_keys(settings)
    with pytest.raises(DecryptionError):
        decrypt_str(bad)


def test_non_str_is_refused(settings):
    use_keys(settings)
    with pytest.raises(TypeError):
        encrypt_str(b"bytes")


def test_old_key_still_decrypts_after_rotation(settings):
    use_keys(settings, {"k1": KEY1}, active="k1")
    old = encrypt_str("13812341234")
    use_keys(settings, {"k1": KEY1, "k2": KEY2}, active="k2")
    new = encrypt_str("13812341234")
    assert token_header(new) == ("a256gcm", "k2")
    assert decrypt_str(old) == decrypt_str(new) == "13812341234"
    assert not is_current(old) and is_current(new)


def test_unknown_key_id_is_named(settings):
    use_keys(settings, {"k1": KEY1}, active="k1")
    token = encrypt_str("张三")
    use_keys(settings, {"k2": KEY2}, active="k2")
    with pytest.raises(UnknownKeyError, match="unknown key id 'k1'"):
        decrypt_str(token)


def test_aes_tokens_decrypt_in_sm_mode_and_back(settings):
    use_keys(settings, {"k1": KEY1}, mode="aes")
    aes_token = encrypt_str("张三")
    use_keys(settings, {"k1": KEY1}, mode="sm")
    sm_token = encrypt_str("李四")
    assert token_header(sm_token) == ("sm4gcm", "k1")
    assert decrypt_str(aes_token) == "张三"
    use_keys(settings, {"k1": KEY1}, mode="aes")
    assert decrypt_str(sm_token) == "李四"


def test_sixteen_byte_key_serves_sm4_only(settings):
    use_keys(settings, {"k1": KEY1, "g1": KEY16}, active="g1", mode="sm")
    token = encrypt_str("张三")
    assert token_header(token) == ("sm4gcm", "g1")
    assert decrypt_str(token) == "张三"
    forged = token.replace(":sm4gcm:", ":a256gcm:")
    with pytest.raises(UnknownKeyError, match="wrong key size"):
        decrypt_str(forged)
