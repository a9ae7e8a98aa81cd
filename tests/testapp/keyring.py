"""Fixed test keys and a helper that installs them through the ``settings`` fixture."""

import base64

from huifang.core.crypto.keys import keyring_reset

KEY1 = bytes(range(32))
KEY2 = bytes(range(100, 132))
KEY16 = bytes(range(200, 216))
INDEX_KEY = bytes(range(50, 82))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def use_keys(settings, keys=None, active="k1", mode="aes", index_key=INDEX_KEY):
    """Configure keys as the environment would (``HUIFANG_KEYS`` …) and drop the cached keyring."""
    keys = {"k1": KEY1} if keys is None else keys
    settings.HUIFANG_CRYPTO = mode
    settings.HUIFANG_KEYS = ",".join(f"{kid}:{b64(key)}" for kid, key in keys.items())
    settings.HUIFANG_ACTIVE_KEY = active
    settings.HUIFANG_INDEX_KEY = b64(index_key) if index_key else ""
    keyring_reset()
