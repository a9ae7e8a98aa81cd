"""Writes around PII: re-encryption under the active key, and the audited reveal of one value."""

import logging
from collections.abc import Callable

from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import ExpressionWrapper, F, Q, Value
from django.utils.translation import gettext as _

from huifang.core.audit.events import CRYPTO_REKEYED, PII_REVEALED
from huifang.core.audit.services import audit_record
from huifang.core.crypto.cipher import VERSION, active_prefix, decrypt_str, encrypt_str
from huifang.core.crypto.fields import encrypted_fields_registry
from huifang.core.crypto.keys import keyring
from huifang.core.crypto.masking import guess_kind, mask_for
from huifang.core.permissions import Cap, can_see_org_unit, has_cap

logger = logging.getLogger(__name__)

REASON_MIN_LENGTH = 4
REASON_MAX_LENGTH = 500

__all__ = ["crypto_rekey", "crypto_status", "mask_for", "pii_reveal"]


# ---- re-encryption ------------------------------------------------------------------------------------


def _encrypted_fields_by_model() -> dict[type[models.Model], list[models.Field]]:
    by_model: dict[type[models.Model], list[models.Field]] = {}
    for model, field in encrypted_fields_registry():
        by_model.setdefault(model, []).append(field)
    return by_model


def _raw_columns(fields) -> dict[str, ExpressionWrapper]:
    """The stored tokens, read as plain text (no decryption, and lookups allowed)."""
    return {
        f"_hf_raw_{f.attname}": ExpressionWrapper(F(f.attname), output_field=models.TextField())
        for f in fields
    }


def _stale_q(raw_names, prefix: str) -> Q:
    """Rows where some token is not under the active key and algorithm (NULL and "" are not tokens)."""
    q = Q()
    for name in raw_names:
        q |= Q(**{f"{name}__startswith": f"{VERSION}:"}) & ~Q(**{f"{name}__startswith": prefix})
    return q


def _rekey_model(model, fields, prefix: str, batch_size: int, on_batch) -> int:
    raw = _raw_columns(fields)
    raw_names = list(raw)
    stale = _stale_q(raw_names, prefix)
    manager = model._base_manager
    changed = 0
    last_pk = None
    while True:
        qs = manager.annotate(**raw).filter(stale)
        if last_pk is not None:
            qs = qs.filter(pk__gt=last_pk)
        pks = list(qs.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not pks:
            return changed
        last_pk = pks[-1]
        with transaction.atomic():
            # Re-read under a row lock, so a concurrent edit is never overwritten with an old value.
            rows = (
                manager.select_for_update().filter(pk__in=pks).annotate(**raw).values_list("pk", *raw_names)
            )
            objs = []
            for pk, *tokens in rows:
                obj = model(pk=pk)
                for field, token in zip(fields, tokens, strict=True):
                    if token and token.startswith(f"{VERSION}:") and not token.startswith(prefix):
                        # Token to token: the JSON field's text is carried over without parsing.
                        new = Value(encrypt_str(decrypt_str(token)), output_field=models.TextField())
                        setattr(obj, field.attname, new)
                    else:
                        setattr(obj, field.attname, F(field.attname))  # leave as is
                objs.append(obj)
            model._base_manager.bulk_update(objs, [f.name for f in fields])
        changed += len(objs)
        if on_batch is not None:
            on_batch(model._meta.label_lower, changed)


def crypto_rekey(
    *, batch_size: int = 1000, actor=None, on_batch: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Re-encrypt every encrypted value that is not under the active key and algorithm.

    Walks each model with encrypted fields in primary-key order, ``batch_size`` rows per
    transaction, so it can be interrupted and re-run: rows already under the active key are
    skipped (a second run changes 0). Returns rows re-encrypted per model label. Writes one
    ``crypto.rekeyed`` audit event with the counts when anything changed (also when a run fails
    part-way, marked ``completed: false``). Never logs values.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ring = keyring()
    prefix = active_prefix()
    counts: dict[str, int] = {}
    completed = False
    try:
        for model, fields in _encrypted_fields_by_model().items():
            label = model._meta.label_lower
            counts[label] = _rekey_model(model, fields, prefix, batch_size, on_batch)
            logger.info("crypto rekey: %s rows re-encrypted in %s", counts[label], label)
        completed = True
    finally:
        total = sum(counts.values())
        if total:
            with transaction.atomic():
                audit_record(
                    CRYPTO_REKEYED,
                    actor=actor,
                    subject_type="crypto.keyring",
                    subject_id=ring.active_kid,
                    data={
                        "active_key": ring.active_kid,
                        "algorithm": ring.algorithm,
                        "counts": {label: n for label, n in counts.items() if n},
                        "total": total,
                        "completed": completed,
                    },
                )
    return counts


def crypto_status(*, count_stale: bool = False) -> dict:
    """Key ids, fingerprints and the encrypted fields; with ``count_stale``, per model the rows
    still holding a token under another key or algorithm (a scan: slow on big tables)."""
    status = keyring().describe()
    by_model = _encrypted_fields_by_model()
    status["encrypted_fields"] = {
        model._meta.label_lower: [f.name for f in fields] for model, fields in by_model.items()
    }
    if count_stale:
        prefix = active_prefix()
        status["stale_rows"] = {}
        for model, fields in by_model.items():
            raw = _raw_columns(fields)
            status["stale_rows"][model._meta.label_lower] = (
                model._base_manager.annotate(**raw).filter(_stale_q(list(raw), prefix)).count()
            )
    return status


# ---- reveal -------------------------------------------------------------------------------------------


def _org_unit_of(obj):
    if hasattr(obj, "org_unit"):
        return obj.org_unit
    getter = getattr(obj, "get_org_unit", None)
    if callable(getter):
        return getter()
    # No way to tell whose record this is: only users who see every org unit may reveal it.
    return None


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value if item not in (None, ""))
    return str(value)


def pii_reveal(user, obj, field_name: str, reason: str) -> str:
    """Return the plaintext of ``obj.<field_name>`` for ``user``, and audit that it was shown.

    Requires ``Cap.REVEAL_PII``, the object's org unit in the user's scope and a reason of at
    least 4 characters; otherwise raises PermissionDenied / ValidationError and writes nothing.
    The ``pii.revealed`` event (RULES.md PV-10) records the field, the reason and the *masked*
    value, never the plaintext, in the same transaction as the read.
    """
    if not has_cap(user, Cap.REVEAL_PII):
        raise PermissionDenied(_("You do not have permission to reveal personal information."))
    org_unit = _org_unit_of(obj)
    if not can_see_org_unit(user, org_unit):
        raise PermissionDenied(_("This record belongs to an org unit outside your scope."))
    try:
        field = obj._meta.get_field(field_name)
    except FieldDoesNotExist:
        field = None
    if field is None or not field.concrete or field.is_relation or field.name != field_name:
        raise ValidationError(
            _("%(model)s has no field “%(field)s” that can be revealed."),
            code="invalid_field",
            params={"model": obj._meta.verbose_name, "field": field_name},
        )
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError(
            _("Give a reason of at least %(n)d characters for revealing personal information."),
            code="reason_required",
            params={"n": REASON_MIN_LENGTH},
        )
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError(
            _("The reason may be at most %(n)d characters."),
            code="reason_too_long",
            params={"n": REASON_MAX_LENGTH},
        )
    with transaction.atomic():
        if obj.pk is not None:
            # What is stored now, not what a form may have put on the instance.
            value = type(obj)._base_manager.filter(pk=obj.pk).values_list(field.attname, flat=True).first()
        else:
            value = getattr(obj, field.attname)
        kind = getattr(field, "pii_kind", "") or guess_kind(field.name)
        audit_record(
            PII_REVEALED,
            actor=user,
            subject=obj,
            org_unit_id=getattr(org_unit, "pk", None),
            data={"field": field.name, "reason": reason, "masked": mask_for(kind, value)},
        )
    return _as_text(value)
