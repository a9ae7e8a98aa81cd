"""Authenticated encryption of strings into self-describing text tokens.

Token format (ASCII, safe in any text column)::

    hf1:<alg>:<kid>:<base64url(nonce | ciphertext | tag)>

``hf1``  format version.
``alg``  ``a256gcm`` (AES-256-GCM) or ``sm4gcm`` (SM4-GCM, 国密 mode); see keys.py for the keys.
``kid``  the id of the data key that encrypted it; decryption looks the key up by this id, so tokens
         written under an old key keep working after rotation until ``huifang crypto rekey``.
body     a random 96-bit nonce, the ciphertext and the 128-bit GCM tag, base64url without padding.

The associated data is the header ``hf1:<alg>:<kid>``: changing the algorithm or key id of a
token makes it fail authentication, like changing any byte of the body.
RULES.md PV-10: encryption of personal information at rest.
"""

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from huifang.core.crypto.keys import ALGORITHMS, Keyring, keyring

VERSION = "hf1"
NONCE_BYTES = 12
TAG_BYTES = 16


class DecryptionError(ValueError):
    """A token could not be decrypted: malformed, unknown key, or altered (authentication failed)."""


class UnknownKeyError(DecryptionError):
    """The token names a key id that is not in the keyring (or not usable for its algorithm)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _SM4GCM:
    """SM4-GCM with the AESGCM calling convention (``cryptography`` has no SM4 AEAD class)."""

    __slots__ = ("_algorithm",)

    def __init__(self, key: bytes):
        self._algorithm = algorithms.SM4(key)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes) -> bytes:
        encryptor = Cipher(self._algorithm, modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(associated_data)
        return encryptor.update(data) + encryptor.finalize() + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes) -> bytes:
        if len(data) < TAG_BYTES:
            raise InvalidTag
        decryptor = Cipher(self._algorithm, modes.GCM(nonce, data[-TAG_BYTES:])).decryptor()
        decryptor.authenticate_additional_data(associated_data)
        return decryptor.update(data[:-TAG_BYTES]) + decryptor.finalize()


def _aead(ring: Keyring, algorithm: str, kid: str):
    """The cached cipher object for (algorithm, kid): key objects are built once per process."""
    cache_key = ("aead", algorithm, kid)
    aead = ring.cache.get(cache_key)
    if aead is None:
        if algorithm not in ALGORITHMS:
            raise DecryptionError(f"unknown encryption algorithm {algorithm!r}")
        key = ring.cipher_key(algorithm, kid)
        if key is None:
            if ring.key(kid) is None:
                raise UnknownKeyError(
                    f"unknown key id {kid!r}: add it back to HUIFANG_KEYS to read data encrypted under it"
                )
            raise UnknownKeyError(f"key {kid!r} cannot be used for {algorithm} (wrong key size)")
        aead = AESGCM(key) if algorithm == "a256gcm" else _SM4GCM(key)
        ring.cache[cache_key] = aead
    return aead


def encrypt_str(plaintext: str) -> str:
    """Encrypt ``plaintext`` under the active key and algorithm; a fresh random nonce each call."""
    if not isinstance(plaintext, str):
        raise TypeError(f"encrypt_str() takes a str, not {type(plaintext).__name__}")
    ring = keyring()
    entry = ring.cache.get("encrypt")
    if entry is None:
        header = f"{VERSION}:{ring.algorithm}:{ring.active_kid}"
        entry = (f"{header}:", header.encode("ascii"), _aead(ring, ring.algorithm, ring.active_kid))
        ring.cache["encrypt"] = entry
    prefix, aad, aead = entry
    nonce = os.urandom(NONCE_BYTES)
    return prefix + _b64url(nonce + aead.encrypt(nonce, plaintext.encode("utf-8"), aad))


def token_header(token: str) -> tuple[str, str]:
    """(algorithm, key id) of a token, without decrypting it."""
    parts = token.split(":", 3) if isinstance(token, str) else []
    if len(parts) != 4 or parts[0] != VERSION:
        raise DecryptionError("not a Huifang encrypted value (expected 'hf1:<alg>:<kid>:<data>')")
    return parts[1], parts[2]


def active_prefix() -> str:
    """The prefix of tokens written now: ``hf1:<alg>:<active kid>:``."""
    ring = keyring()
    return f"{VERSION}:{ring.algorithm}:{ring.active_kid}:"


def is_current(token: str) -> bool:
    """True when ``token`` is already under the active key and algorithm."""
    return token.startswith(active_prefix())


def _decryptor(ring: Keyring, header: str):
    """(cipher, associated data) for a token header ``hf1:<alg>:<kid>``, cached once it is known
    good (the cache is bounded by the configured keys, whatever tokens are fed in)."""
    cache_key = ("decrypt", header)
    entry = ring.cache.get(cache_key)
    if entry is None:
        version, _, rest = header.partition(":")
        algorithm, _, kid = rest.partition(":")
        if version != VERSION or not algorithm or not kid or ":" in kid:
            raise DecryptionError("not a Huifang encrypted value (expected 'hf1:<alg>:<kid>:<data>')")
        entry = (_aead(ring, algorithm, kid), header.encode("ascii"), kid)
        ring.cache[cache_key] = entry
    return entry


def decrypt_str(token: str) -> str:
    """Decrypt a token from :func:`encrypt_str` with the key it names. Raises DecryptionError."""
    if not isinstance(token, str):
        raise DecryptionError(f"an encrypted value is a str, not {type(token).__name__}")
    header, sep, body = token.rpartition(":")
    if not sep:
        raise DecryptionError("not a Huifang encrypted value (expected 'hf1:<alg>:<kid>:<data>')")
    aead, aad, kid = _decryptor(keyring(), header)
    try:
        raw = _unb64url(body)
    except (binascii.Error, ValueError):
        raise DecryptionError(f"encrypted value under key {kid!r} is not valid base64url") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(f"encrypted value under key {kid!r} is truncated")
    try:
        plaintext = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError(
            f"encrypted value under key {kid!r} failed authentication: it was altered, "
            "or the key with this id is not the one that encrypted it"
        ) from None
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError(f"encrypted value under key {kid!r} is not UTF-8 text") from None
