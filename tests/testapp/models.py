"""Models for the crypto tests. No migrations: pytest-django creates their tables directly."""

from django.db import models

from huifang.core.crypto.fields import EncryptedJSONField, EncryptedTextField


class Person(models.Model):
    """Shaped like a customer: a business key, an org unit, encrypted PII and a blind index."""

    code = models.CharField(max_length=20, unique=True)
    # A plain id, not a ForeignKey: an app without migrations cannot reference a migrated one
    # (on PostgreSQL its table is created before org_orgunit exists).
    org_unit_id = models.BigIntegerField(null=True, blank=True)
    name = EncryptedTextField(blank=True, pii_kind="name")
    id_number = EncryptedTextField(null=True, blank=True, pii_kind="id_number")
    id_number_index = models.CharField(max_length=64, blank=True, db_index=True)
    phones = EncryptedJSONField(default=list, blank=True, pii_kind="phone")
    city = models.CharField(max_length=40, blank=True)

    def __str__(self):
        return self.code

    @property
    def org_unit(self):
        from huifang.org.models import OrgUnit

        return OrgUnit.objects.filter(pk=self.org_unit_id).first() if self.org_unit_id else None


class Memo(models.Model):
    """No org_unit field of its own: its scope comes through get_org_unit()."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memos")
    body = EncryptedTextField()
    extra = EncryptedJSONField(null=True, blank=True)

    def get_org_unit(self):
        return self.person.org_unit
