"""``{% ecallback_evidence task as links %}``: the e-callback evidence of a task, for staff pages."""

from django import template

from huifang.selfservice.selectors import ecallback_evidence_for_task

register = template.Library()


@register.simple_tag
def ecallback_evidence(task):
    return ecallback_evidence_for_task(task) if task is not None else []
