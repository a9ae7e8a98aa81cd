"""Template tags of the working-day calendar.

``{% calendar_warnings as messages %}`` gives the administrators' warnings of
``huifang.core.calendar.selectors.calendar_warnings`` for today (Asia/Shanghai), e.g. from
1 November while next year's calendar is unconfirmed.
"""

from django import template

from huifang.core.calendar.selectors import calendar_warnings as select_calendar_warnings

register = template.Library()


@register.simple_tag
def calendar_warnings() -> list[str]:
    return select_calendar_warnings()
