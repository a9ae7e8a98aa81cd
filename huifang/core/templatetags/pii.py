"""Template filters that mask personal information by default (see huifang.core.crypto.masking).

``{{ customer.phone|mask_phone }}``, ``{{ customer.id_number|mask_id }}``, or by kind:
``{{ customer.phones|mask:"phone" }}`` (a list masks each item).
"""

from django import template

from huifang.core.crypto import masking

register = template.Library()

register.filter("mask_phone", masking.mask_phone)
register.filter("mask_id", masking.mask_id_number)
register.filter("mask_name", masking.mask_name)
register.filter("mask_email", masking.mask_email)
register.filter("mask_address", masking.mask_address)


@register.filter("mask")
def mask(value, kind="text"):
    return masking.mask_for(kind, value)
