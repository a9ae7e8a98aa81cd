from datetime import date

import pytest

from huifang.records.idnumbers import resident_id_make
from huifang.records.services import RecordsFeed


@pytest.fixture
def products(org_tree):
    feed = RecordsFeed("products")
    rows = [
        {
            "code": "LIFE20",
            "name": "鑫福终身寿险",
            "line": "life",
            "kind": "traditional",
            "term_type": "long",
            "cooling_off_days": 15,
        },
        {
            "code": "UL10",
            "name": "金账户万能险",
            "line": "life",
            "kind": "universal",
            "term_type": "long",
            "cooling_off_days": 15,
            "high_risk": True,
        },
        {
            "code": "ILP",
            "name": "稳健投连",
            "line": "life",
            "kind": "investment_linked",
            "term_type": "long",
            "cooling_off_days": 20,
        },
        {
            "code": "ACC1",
            "name": "一年期意外险",
            "line": "accident",
            "kind": "traditional",
            "term_type": "short",
            "cooling_off_days": 0,
        },
    ]
    outcome = feed.upsert(list(enumerate(rows, start=1)))
    assert outcome.summary["created"] == 4
    return rows


def policy_values(n=1, **over):
    values = {
        "policy_no": f"P{n:06d}",
        "product_code": "LIFE20",
        "channel": "bank",
        "is_group": False,
        "org_unit": "GZ",
        "salesperson_code": "",
        "premium": 10000,
        "payment_mode": "regular",
        "payment_years": 10,
        "payment_frequency": "annual",
        "term_years": 20,
        "application_date": date(2026, 2, 1),
        "receipt_date": date(2026, 2, 5),
        "applicant_no": f"C{n:06d}",
        "applicant_name": "张三",
        "applicant_id_type": "resident_id",
        "applicant_id_number": resident_id_make("440104", date(1960, 1, 2), n),
        "applicant_birth_date": date(1960, 1, 2),
        "applicant_sex": "M" if n % 2 else "F",
        "applicant_mobile": "13812341234",
        "applicant_address": "广东省广州市天河区体育西路1号",
    }
    values.update(over)
    return values
