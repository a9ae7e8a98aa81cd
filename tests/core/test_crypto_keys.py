import json
import logging
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from huifang.core.crypto import keys
from huifang.core.crypto.cipher import decrypt_str, encrypt_str
from huifang.core.crypto.keys import check_keys, keyring, keyring_reset
from tests.testapp.keyring import INDEX_KEY, KEY1, KEY2, KEY16, b64, use_keys


@pytest.fixture
def no_env_keys(settings, tmp_path):
    settings.HUIFANG_KEYS = ""
    settings.HUIFANG_ACTIVE_KEY = ""
    settings.HUIFANG_INDEX_KEY = ""
    settings.HUIFANG_KEY_FILE = tmp_path / "keys.json"
    keyring_reset()
    yield settings
    keyring_reset()


def test_keys_from_the_environment(settings):
    use_keys(settings, {"k1": KEY1, "k2": KEY2}, active="k2")
    ring = keyring()
    assert ring.source == "environment"
    assert ring.keys == {"k1": KEY1, "k2": KEY2}
    assert ring.active_kid == "k2"
    assert ring.index_key == INDEX_KEY
    assert ring.algorithm == "a256gcm"
    assert keyring() is ring  # cached per process


def test_changing_key_settings_drops_the_cached_keyring(settings):
    use_keys(settings)
    ring = keyring()
    settings.HUIFANG_ACTIVE_KEY = "k1"  # any change of a key setting
    assert keyring() is not ring


def test_active_key_defaults_to_the_only_key(settings):
    use_keys(settings, active="")
    assert keyring().active_kid == "k1"


@pytest.mark.parametrize(
    ("keys_spec", "active", "index", "message"),
    [
        ("k1:" + b64(KEY1) + ",k2:" + b64(KEY2), "", b64(INDEX_KEY), "HUIFANG_ACTIVE_KEY"),
        ("k1:" + b64(KEY1), "k9", b64(INDEX_KEY), "'k9' is not one of"),
        ("k1:" + b64(KEY1), "k1", "", "HUIFANG_INDEX_KEY"),
        ("k1:" + b64(KEY1), "k1", b64(b"short"), "at least 32"),
        ("k1:" + b64(KEY1), "k1", b64(KEY1), "differ from every data key"),
        ("k1:not base64!", "k1", b64(INDEX_KEY), "not valid base64"),
        ("k1:" + b64(b"x" * 24), "k1", b64(INDEX_KEY), "24 bytes"),
        ("k 1:" + b64(KEY1), "k 1", b64(INDEX_KEY), "malformed"),
        ("k1:" + b64(KEY1) + ",K1:" + b64(KEY2), "k1", b64(INDEX_KEY), "twice"),
        ("k1:" + b64(KEY16), "k1", b64(INDEX_KEY), "AES-256-GCM needs 32 bytes"),
    ],
)
def test_malformed_environment_is_refused(settings, keys_spec, active, index, message):
    settings.HUIFANG_KEYS, settings.HUIFANG_ACTIVE_KEY, settings.HUIFANG_INDEX_KEY = keys_spec, active, index
    with pytest.raises(ImproperlyConfigured, match=message):
        keyring()


def test_errors_never_show_key_material(settings):
    secret = "k1:" + b64(b"y" * 24)
    settings.HUIFANG_KEYS, settings.HUIFANG_ACTIVE_KEY, settings.HUIFANG_INDEX_KEY = (
        secret,
        "k1",
        b64(INDEX_KEY),
    )
    with pytest.raises(ImproperlyConfigured) as info:
        keyring()
    assert b64(b"y" * 24) not in str(info.value)


def test_unknown_mode_is_refused(settings):
    use_keys(settings, mode="des")
    with pytest.raises(ImproperlyConfigured, match="'aes' or 'sm'"):
        keyring()


def test_production_without_environment_keys_refuses_to_start(no_env_keys):
    no_env_keys.PRODUCTION = True
    with pytest.raises(ImproperlyConfigured, match="will not start"):
        keyring()
    errors = check_keys()
    assert [e.id for e in errors] == ["huifang.crypto.E001"]
    assert not no_env_keys.HUIFANG_KEY_FILE.exists()  # never falls back to a key file


def test_production_with_environment_keys_starts(settings):
    settings.PRODUCTION = True
    use_keys(settings)
    assert keyring().source == "environment"
    assert check_keys() == []


def test_local_key_file_is_generated_once_with_mode_600_and_announced(no_env_keys, caplog):
    path = no_env_keys.HUIFANG_KEY_FILE
    with caplog.at_level(logging.WARNING, logger="huifang.core.crypto.keys"):
        ring = keyring()
    assert ring.source == "key file" and ring.key_file == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["active_key"] == ring.active_kid and ring.active_kid.startswith("local-")
    assert len(ring.keys[ring.active_kid]) == 32 and len(ring.index_key) == 32
    assert "LOCAL KEY FILE" in caplog.text and "generated now" in caplog.text
    token = encrypt_str("张三")

    caplog.clear()
    keyring_reset()
    with caplog.at_level(logging.WARNING, logger="huifang.core.crypto.keys"):
        again = keyring()
    assert again.keys == ring.keys and again.index_key == ring.index_key  # reused, not regenerated
    assert decrypt_str(token) == "张三"
    assert "LOCAL KEY FILE" not in caplog.text  # said once per process


def test_concurrent_key_file_creation_keeps_the_first(tmp_path):
    path = tmp_path / "keys.json"
    assert keys._write_new_key_file(path) is True
    first = path.read_text()
    assert keys._write_new_key_file(path) is False
    assert path.read_text() == first
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temporary files left


def test_malformed_key_file_is_refused(no_env_keys):
    no_env_keys.HUIFANG_KEY_FILE.write_text("{not json")
    with pytest.raises(ImproperlyConfigured, match="malformed"):
        keyring()


def test_sm_mode_derives_a_16_byte_sm4_key(settings):
    use_keys(settings, {"k1": KEY1, "g1": KEY16}, active="k1", mode="sm")
    ring = keyring()
    assert ring.algorithm == "sm4gcm"
    derived = ring.cipher_key("sm4gcm", "k1")
    assert len(derived) == 16 and derived != KEY1[:16]
    assert ring.cipher_key("sm4gcm", "k1") == derived  # deterministic (HKDF-SM3)
    assert ring.cipher_key("sm4gcm", "g1") == KEY16  # a 16-byte key is used as is
    assert ring.cipher_key("a256gcm", "g1") is None  # … and never for AES-256


def test_keygen_prints_an_environment_line_without_needing_keys(no_env_keys, capsys):
    no_env_keys.PRODUCTION = True
    call_command("crypto", "keygen", "--kid", "k2027")
    out = capsys.readouterr().out.strip()
    kid, _, key = out.partition(":")
    assert kid == "k2027"
    assert keys.parse_keys(out) == {"k2027": keys._b64decode(key, "test")}
    assert len(keys.parse_keys(out)["k2027"]) == 32
    call_command("crypto", "keygen", "--index")
    assert len(keys._b64decode(capsys.readouterr().out.strip(), "test")) == 32


def test_status_shows_ids_and_fingerprints_never_keys(settings, capsys, db):
    use_keys(settings, {"k1": KEY1, "k2": KEY2}, active="k2")
    call_command("crypto", "status", "--counts")
    out = capsys.readouterr().out
    assert "k1: 32 bytes" in out and "k2: 32 bytes" in out and "active" in out
    assert keys.fingerprint(KEY2) in out
    assert "testapp.person: name, id_number, phones" in out
    assert b64(KEY1) not in out and b64(KEY2) not in out and b64(INDEX_KEY) not in out
