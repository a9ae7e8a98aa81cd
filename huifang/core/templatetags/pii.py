"""Template filters that mask personal information by default (see huifang.core.crypto.masking)."""

from django import template

from huifang.core.crypto import masking

register = template.Library()

register.filter("mask_phone", masking.mask_phone)
register.filter("mask_id", masking.mask_id_number)
register.filter("mask_name", masking.mask_name)
register.filter("mask_email", masking.mask_email)
register.filter("mask_address", masking.mask_address)
