"""Encrypted model fields: the Python value is the plaintext, the column holds a token.

::

    class Customer(models.Model):
        id_number = EncryptedTextField(_("ID number"), blank=True, pii_kind="id_number")
        id_number_index = models.CharField(max_length=64, blank=True, db_index=True)  # blind_index()
        phones = EncryptedJSONField(_("phones"), default=list, blank=True, pii_kind="phone")

Both are ``text`` columns. Every write encrypts with the active key (a fresh nonce, so equal values
give different tokens); every read — instances, ``values()``, ``values_list()`` — decrypts with the
key the token names. They work with ``bulk_create(update_conflicts=True)`` and ``bulk_update``.

Encrypted columns cannot be searched: the only lookups are ``isnull`` and ``exact`` against
``None`` or ``""``; exact search goes through a blind index (:mod:`huifang.core.crypto.blind_index`).
Ordering by an encrypted column is allowed by SQL but meaningless (it sorts tokens). Django's
serializers (``dumpdata``) write the plaintext, like any other read: treat such dumps as PII.
RULES.md PV-10: encryption of personal information at rest.
"""

import json

from django.apps import apps
from django.core import checks
from django.core.exceptions import FieldError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.lookups import Exact, IsNull
from django.utils.translation import gettext_lazy as _

from huifang.core.crypto.cipher import decrypt_str, encrypt_str
from huifang.core.crypto.masking import MASK_KINDS


def _refuse(field, lookup_name: str):
    return FieldError(
        f"{field.model.__name__}.{field.name} is encrypted and cannot be searched with "
        f"'{lookup_name}'; filter on its blind index instead (huifang.core.crypto.blind_index)."
    )


class _EmptyOrNullExact(Exact):
    """``field=None`` (becomes IS NULL) and ``field=""`` (empty values are stored as is) only."""

    def __init__(self, lhs, rhs):
        if rhs is not None and not (isinstance(rhs, str) and rhs == ""):
            raise _refuse(lhs.output_field, "exact")
        super().__init__(lhs, rhs)


class EncryptedFieldMixin:
    """Shared behaviour of the encrypted fields: lookups, checks, ``pii_kind``, deconstruction."""

    # What the value is, for masking (huifang.core.crypto.masking.mask_for) and reveal.
    pii_kind: str = ""

    def __init__(self, *args, pii_kind: str = "", **kwargs):
        self.pii_kind = pii_kind
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.pii_kind:
            kwargs["pii_kind"] = self.pii_kind
        return name, path, args, kwargs

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return IsNull
        if lookup_name == "exact":
            return _EmptyOrNullExact
        raise _refuse(self, lookup_name)

    def get_transform(self, lookup_name):
        return None

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if self.unique or self.db_index or self.primary_key:
            errors.append(
                checks.Error(
                    "An encrypted field cannot be a key, unique or indexed: every write gives a "
                    "different token.",
                    hint="Add a CharField(max_length=64, db_index=True) holding blind_index(value, kind).",
                    obj=self,
                    id="huifang.crypto.E002",
                )
            )
        if self.pii_kind and self.pii_kind not in MASK_KINDS:
            errors.append(
                checks.Error(
                    f"pii_kind {self.pii_kind!r} is not one of {', '.join(MASK_KINDS)}.",
                    obj=self,
                    id="huifang.crypto.E003",
                )
            )
        return errors


class EncryptedTextField(EncryptedFieldMixin, models.TextField):
    """A text value stored encrypted. ``None`` stays NULL and ``""`` stays empty (not secret)."""

    description = _("Text (encrypted)")

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)  # str() of whatever was assigned
        if value is None or value == "":
            return value
        return encrypt_str(value)


class EncryptedJSONField(EncryptedFieldMixin, models.Field):
    """A JSON value (e.g. a list of phone numbers) stored encrypted as one token.

    ``None`` is stored as NULL. Dates, decimals and UUIDs are written as strings
    (DjangoJSONEncoder) and read back as strings, like ``JSONField``.
    """

    description = _("JSON (encrypted)")
    empty_strings_allowed = False

    def get_internal_type(self):
        return "TextField"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return None
        return json.loads(decrypt_str(value))

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        text = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
        return encrypt_str(text)

    def to_python(self, value):
        return value

    def value_to_string(self, obj):
        return self.value_from_object(obj)

    def formfield(self, **kwargs):
        from django import forms

        return super().formfield(**{"form_class": forms.JSONField, "encoder": DjangoJSONEncoder, **kwargs})


def encrypted_fields_registry() -> list[tuple[type[models.Model], models.Field]]:
    """Every (model, field) pair holding encrypted values, across installed apps.

    Proxy and unmanaged models are left out (their tables belong to another model or to no one);
    a field inherited from a concrete parent is listed once, on the parent.
    """
    pairs = []
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or not opts.managed:
            continue
        pairs.extend((model, f) for f in opts.local_concrete_fields if isinstance(f, EncryptedFieldMixin))
    return pairs
