"""Versioned SMS texts. A text that changes gets a new version; a message records the template
and version it was rendered from, so what a customer was sent can always be shown."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SmsTemplate:
    code: str
    version: int
    text: str

    def render(self, **values) -> str:
        return self.text.format(**values)


# RULES.md EC-01: the link and the one-time code travel in two messages to the policyholder's mobile.
SMS_TEMPLATES: dict[str, SmsTemplate] = {
    t.code: t
    for t in (
        SmsTemplate(
            "ecallback_link",
            1,
            "【{insurer}】尊敬的客户，您投保的{product}（保单尾号{policy_tail}）需完成回访确认。"
            "请于{deadline}前打开链接完成电子化回访：{link} 如您希望电话回访，可在页面中选择。",
        ),
        SmsTemplate(
            "ecallback_code",
            1,
            "【{insurer}】您的电子化回访验证码为{code}，{minutes}分钟内有效。请勿将验证码告诉他人。",
        ),
    )
}


def sms_template(code: str) -> SmsTemplate:
    return SMS_TEMPLATES[code]
