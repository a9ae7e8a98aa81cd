"""``huifang rules``: load, show and explain the rule packs.

huifang rules load                       # reload the shipped packs (a no-op when unchanged)
huifang rules load my-local-pack.yaml --reason "上海局 2027 notice"
huifang rules show                       # every rule in force today, with its pack and version
huifang rules show KP-07 --history       # one rule: in force, shadowed versions, every version
huifang rules explain P000001            # which callback rules apply to a policy, and its tasks
"""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from huifang.rules.selectors import rule_explain, rule_history, rule_ids_current
from huifang.rules.services import RulePackInvalid, rule_pack_load, rule_packs_load_shipped


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Load, show and explain rule packs (RULES.md ids, citations, parameters, versions)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="load pack files (default: the shipped packs)")
        load.add_argument("files", nargs="*", metavar="FILE")
        load.add_argument("--reason", default="", help="why (kept with every new rule version)")
        show = sub.add_parser("show", help="rules in force (all, or one RULE_ID)")
        show.add_argument("rule_id", nargs="?", metavar="RULE_ID")
        show.add_argument("--on", type=_date, default=None, help="in force on this day (default today)")
        show.add_argument("--history", action="store_true", help="every version of RULE_ID")
        show.add_argument("--json", action="store_true")
        explain = sub.add_parser("explain", help="which callback rules apply to a policy, and why")
        explain.add_argument("policy_no", metavar="POLICY_NO")
        explain.add_argument("--json", action="store_true")

    def handle(self, *args, action, **options):
        getattr(self, f"do_{action}")(**options)

    # -- load -------------------------------------------------------------------------------------

    def do_load(self, files, reason, **_):
        try:
            if files:
                results = [rule_pack_load(f, reason=reason) for f in files]
            else:
                results = rule_packs_load_shipped(reason=reason)
        except FileNotFoundError as exc:
            raise CommandError(f"no such file: {exc.filename}") from None
        except RulePackInvalid as exc:
            raise CommandError(
                "the pack is not valid, nothing was loaded:\n  " + "\n  ".join(exc.problems)
            ) from None
        for result in results:
            self.stdout.write(result.summary())
            for label, ids in (
                ("new", result.created),
                ("changed", result.changed),
                ("removed", result.removed),
            ):
                if ids:
                    self.stdout.write(f"  {label}: {', '.join(ids)}")

    # -- show -------------------------------------------------------------------------------------

    def do_show(self, rule_id, on, history, json, **_):
        on = on or timezone.localdate()
        ids = [rule_id] if rule_id else rule_ids_current()
        explained = [rule_explain(rid, on=on) for rid in ids]
        if rule_id and not explained[0]["in_force"] and not history:
            raise CommandError(explained[0]["text"])
        if json:
            self.stdout.write(_dumps(explained))
            return
        for item in explained:
            if not item["in_force"]:
                self.stdout.write(item["text"])
                continue
            self.stdout.write(
                f"{item['rule_id']:<6} v{item['version']:<3} {item['pack']:<16} {item['certainty']:<6} "
                f"{item['effect']:<13} {_dumps(item['params'], compact=True)}"
            )
            if rule_id:
                self.stdout.write(f"  {item['title']}")
                self.stdout.write(f"  source: {item['citation']}")
                if item["conditions"]:
                    self.stdout.write(f"  applies when: {_dumps(item['conditions'], compact=True)}")
                if item["effective_from"] or item["effective_to"]:
                    self.stdout.write(
                        f"  in force: {item['effective_from'] or '…'} – {item['effective_to'] or '…'}"
                    )
                for shadow in item["shadows"]:
                    self.stdout.write(
                        f"  shadows {shadow['pack']} v{shadow['version']} {_dumps(shadow['params'], compact=True)}"
                    )
        if rule_id and history:
            self.stdout.write("history:")
            for rule in rule_history(rule_id):
                state = f"superseded {rule.superseded_at:%Y-%m-%d %H:%M}" if rule.superseded_at else "current"
                self.stdout.write(
                    f"  {rule.pack.code} v{rule.version} {state}: {_dumps(rule.params, compact=True)}"
                    f" — {rule.change_reason or '-'}"
                )

    # -- explain ----------------------------------------------------------------------------------

    def do_explain(self, policy_no, json, **_):
        from huifang.callbacks.explain import task_explain
        from huifang.callbacks.generation import policy_rules_explain
        from huifang.records.models import Policy

        policy = Policy.objects.select_related("product").filter(policy_no=policy_no).first()
        if policy is None:
            raise CommandError(f"no policy {policy_no}")
        report = policy_rules_explain(policy)
        tasks = [
            {"kind": t.kind, "status": t.status, "rule": t.rule_id, "cycle": t.cycle} | task_explain(t)
            for t in policy.callback_tasks.select_related("rule_version__pack").order_by("created_at", "pk")
        ]
        if json:
            self.stdout.write(_dumps({"policy": policy_no, **report, "tasks": tasks}))
            return
        self.stdout.write(f"policy {policy_no}")
        self.stdout.write("facts: " + ", ".join(f"{k}={v}" for k, v in report["facts"].items()))
        for item in report["rules"]:
            if not item["in_force"]:
                self.stdout.write(f"  {item['text']}")
                continue
            verdict = "APPLIES" if item["applies"] else "does not apply"
            self.stdout.write(
                f"  {item['rule_id']} v{item['version']} ({item['pack']}): {verdict} — {item['title']}"
            )
            for check in item.get("checks", []):
                mark = "ok " if check["holds"] else "NO "
                self.stdout.write(
                    f"      {mark}{check['condition']}: expected {check['expected']!r}, is {check['actual']!r}"
                )
        self.stdout.write(f"callback tasks: {len(tasks)}")
        for t in tasks:
            self.stdout.write(f"  {t['kind']} [{t['status']}] {t['rule']} {t['cycle']}".rstrip())
            self.stdout.write(f"      {t['text']}")
            self.stdout.write(f"      {t['text_zh']}")


def _dumps(value, compact: bool = False) -> str:
    if compact:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)
