"""Writing rules: loading rule packs from YAML, and new rule versions.

A pack file (``huifang/rules/packs/*.yaml``, format in ``national.yaml``'s header) is loaded with
``rule_pack_load(path)``:

* **idempotent** — loading the same file twice changes nothing (no new version, no audit event);
* **versioned** — a rule whose text, citation, params, conditions or dates changed gets a new
  ``Rule`` version; the old one is kept with ``superseded_at`` set, so a deadline computed under it
  can still say which version set it. A rule removed from the file is superseded too;
* **audited** — every new, changed or removed rule writes ``RULE_CHANGED`` (before/after) in the
  same transaction;
* **never laxer than the law** — a local or insurer pack may give a rule id the national pack also
  defines a shorter deadline or a higher floor, never a longer deadline or a lower floor.

A rule is identified in its pack by (rule id, effective_from): the same id may appear twice in one
pack with different effective dates (a rule that changes on a known day keeps both versions in
force, each for its dates).

``rule_packs_load_shipped()`` loads the packs shipped with Huifang. ``huifang migrate`` does that
(post_migrate, see ``apps.py``) and ``huifang rules load`` reloads them or loads another file.
Changes are announced, after commit, to handlers registered with ``register_rules_changed_hook``
(the callback engine recomputes the due dates of open tasks).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from huifang.rules.conditions import ConditionsInvalid, conditions_parse
from huifang.rules.models import Rule, RulePack

logger = logging.getLogger(__name__)

PACKS_DIR = Path(__file__).resolve().parent / "packs"
# Loaded in this order by ``rule_packs_load_shipped`` (and so by ``huifang migrate``).
SHIPPED_PACKS = ("national.yaml", "insurer_default.yaml")

RULE_ID = re.compile(r"^[A-Z]{2,4}-\d{2}[A-Za-z0-9.]*$")
EFFECTS = {
    "callback_task",  # generates callback tasks (huifang.callbacks.generation)
    "deadline",  # sets a deadline (working or calendar days)
    "script",  # what a callback script asks
    "channel",  # how a callback is made (EC-05 order, phone attempts)
    "priority",  # who is called first (CB-06)
    "guard",  # what must never happen (quiet hours, waivers, separation of duties)
    "kpi",  # how results are counted
    "definition",  # how a fact is derived (cooling-off, 双录)
    "evidence",  # what is kept as evidence
    "retention",  # how long it is kept
}
# Params that are deadlines (a larger number is laxer) and floors (a smaller number is laxer).
DEADLINE_PARAMS = {"working_days", "days"}
FLOOR_PARAMS = {"min_days", "coverage_percent", "min_percent", "target_percent"}
# What a rule's content is, for comparing a file with the stored version.
CONTENT_FIELDS = ("title", "citation", "certainty", "effect", "params", "conditions", "effective_to")

_changed_hooks: list[Callable[[list[str]], None]] = []


class RulePackInvalid(ValueError):
    """A pack file is not valid; nothing was loaded. ``problems`` lists every problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems[:20]))


@dataclass
class PackLoadResult:
    pack: str
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pack_changed: bool = False

    @property
    def any_change(self) -> bool:
        return bool(self.created or self.changed or self.removed or self.pack_changed)

    def summary(self) -> str:
        return (
            f"{self.pack}: {len(self.created)} new, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged"
        )


def register_rules_changed_hook(handler: Callable[[list[str]], None]) -> None:
    """``handler(rule_ids)`` is called after a transaction that changed rules commits."""
    if handler not in _changed_hooks:
        _changed_hooks.append(handler)


def _announce(rule_ids: list[str]) -> None:
    from huifang.rules.selectors import rules_cache_clear

    rules_cache_clear()
    if not rule_ids:
        return

    def run():
        rules_cache_clear()
        for handler in list(_changed_hooks):
            try:
                handler(sorted(set(rule_ids)))
            except Exception:  # the rules are committed; the daily sweep recomputes anyway
                logger.exception("rules-changed hook %r failed", handler)

    transaction.on_commit(run)


# ---- parsing ------------------------------------------------------------------------------------


def _as_date(value, where: str, problems: list[str]) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{where}: {value!r} is not a date (YYYY-MM-DD)")
        return None


def rule_pack_parse(text: str, source: str = "") -> dict:
    """Parse and validate a pack file's text; returns ``{"pack": {...}, "rules": [...]}``.

    Raises ``RulePackInvalid`` naming every problem.
    """
    problems: list[str] = []
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulePackInvalid([f"{source or 'pack'}: not valid YAML: {exc}"]) from None
    if not isinstance(data, dict) or not isinstance(data.get("pack"), dict):
        raise RulePackInvalid([f"{source or 'pack'}: expected a mapping with 'pack' and 'rules'"])
    head = data["pack"]
    pack = {
        "code": str(head.get("code") or "").strip(),
        "name": str(head.get("name") or "").strip(),
        "kind": str(head.get("kind") or "").strip(),
        "precedence": head.get("precedence", 0),
    }
    if not pack["code"] or len(pack["code"]) > 40:
        problems.append("pack.code: required, at most 40 characters")
    if not pack["name"] or len(pack["name"]) > 200:
        problems.append("pack.name: required, at most 200 characters")
    if pack["kind"] not in RulePack.Kind.values:
        problems.append(f"pack.kind: {pack['kind']!r} is not one of {', '.join(RulePack.Kind.values)}")
    if (
        isinstance(pack["precedence"], bool)
        or not isinstance(pack["precedence"], int)
        or pack["precedence"] < 0
    ):
        problems.append("pack.precedence: a whole number ≥ 0")
    rules_in = data.get("rules") or []
    if not isinstance(rules_in, list):
        raise RulePackInvalid([*problems, "rules: expected a list"])
    rules: list[dict] = []
    seen: set[tuple[str, date | None]] = set()
    for n, item in enumerate(rules_in, start=1):
        if not isinstance(item, dict):
            problems.append(f"rules[{n}]: expected a mapping")
            continue
        rid = str(item.get("id") or "").strip()
        where = f"rules[{n}] {rid or '?'}"
        if not RULE_ID.match(rid) or len(rid) > 20:
            problems.append(f"{where}: id must look like 'BS-12' (RULES.md id)")
        unknown = set(item) - {
            "id",
            "title",
            "citation",
            "certainty",
            "effect",
            "params",
            "conditions",
            "effective_from",
            "effective_to",
        }
        if unknown:
            problems.append(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        title = " ".join(str(item.get("title") or "").split())
        citation = " ".join(str(item.get("citation") or "").split())
        if not title or len(title) > 300:
            problems.append(f"{where}: title required, at most 300 characters (has {len(title)})")
        if not citation or len(citation) > 300:
            problems.append(f"{where}: citation required, at most 300 characters (has {len(citation)})")
        certainty = str(item.get("certainty") or "")
        if certainty not in Rule.Certainty.values:
            problems.append(
                f"{where}: certainty {certainty!r} is not one of {', '.join(Rule.Certainty.values)}"
            )
        effect = str(item.get("effect") or "")
        if effect not in EFFECTS:
            problems.append(f"{where}: effect {effect!r} is not one of {', '.join(sorted(EFFECTS))}")
        params = item.get("params") or {}
        if not isinstance(params, dict):
            problems.append(f"{where}: params must be a mapping")
            params = {}
        conditions = item.get("conditions") or {}
        try:
            conditions_parse(conditions)
        except ConditionsInvalid as exc:
            problems.append(f"{where}: {exc}")
        start = _as_date(item.get("effective_from"), f"{where} effective_from", problems)
        end = _as_date(item.get("effective_to"), f"{where} effective_to", problems)
        if start and end and end < start:
            problems.append(f"{where}: effective_to is before effective_from")
        if (rid, start) in seen:
            problems.append(f"{where}: listed twice with the same effective_from")
        seen.add((rid, start))
        rules.append(
            {
                "rule_id": rid,
                "title": title,
                "citation": citation,
                "certainty": certainty,
                "effect": effect,
                "params": _plain(params),
                "conditions": _plain(conditions),
                "effective_from": start,
                "effective_to": end,
            }
        )
    if problems:
        raise RulePackInvalid([f"{source}: {p}" if source else p for p in problems])
    return {"pack": pack, "rules": rules}


def _plain(value):
    """YAML values as JSON values (dates become ISO strings), so stored and file compare equal."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _content(rule) -> dict:
    get = rule.get if isinstance(rule, dict) else lambda name: getattr(rule, name)
    out = {name: get(name) for name in CONTENT_FIELDS}
    out["effective_from"] = get("effective_from")
    return out


def _audit_view(content: dict) -> dict:
    return {
        k: (v.isoformat() if isinstance(v, date) else v)
        for k, v in content.items()
        if k in ("params", "conditions", "effective_from", "effective_to", "title", "citation", "certainty")
    }


def _check_not_laxer(pack: dict, rules: list[dict]) -> None:
    """A local or insurer pack may tighten a national rule's numbers, never loosen them."""
    if pack["kind"] == RulePack.Kind.NATIONAL:
        return
    national = {
        r.rule_id: r.params
        for r in Rule.objects.filter(
            pack__kind=RulePack.Kind.NATIONAL, pack__active=True, superseded_at__isnull=True
        )
    }
    problems = []
    for rule in rules:
        base = national.get(rule["rule_id"])
        if not base:
            continue
        for key, value in rule["params"].items():
            ref = base.get(key)
            if not isinstance(value, int | float) or not isinstance(ref, int | float):
                continue
            if key in DEADLINE_PARAMS and value > ref:
                problems.append(f"{rule['rule_id']}: {key} {value} is laxer than the national {ref}")
            if key in FLOOR_PARAMS and value < ref:
                problems.append(f"{rule['rule_id']}: {key} {value} is laxer than the national {ref}")
    if problems:
        raise RulePackInvalid(problems)


# ---- loading ------------------------------------------------------------------------------------


def _source_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PACKS_DIR.parent.parent.parent))
    except ValueError:
        return path.name


def rule_pack_load(path, *, user=None, reason: str = "", audit: bool = True) -> PackLoadResult:
    """Load the pack file at ``path`` (see the module docstring). Returns what changed.

    ``audit=False`` is for seeding an empty database (``huifang migrate``), where loading the
    shipped packs is part of creating the database rather than a change to audit.
    Raises ``RulePackInvalid`` (nothing changed) for a bad file.
    """
    path = Path(path)
    raw = path.read_bytes()
    parsed = rule_pack_parse(raw.decode("utf-8-sig"), path.name)
    return _load(parsed, hashlib.sha256(raw).hexdigest(), _source_name(path), user, reason, audit)


def rule_pack_load_text(text: str, *, source: str = "", user=None, reason: str = "", audit: bool = True):
    """``rule_pack_load`` for a pack given as text (admin upload, tests)."""
    parsed = rule_pack_parse(text, source)
    return _load(parsed, hashlib.sha256(text.encode()).hexdigest(), source, user, reason, audit)


@transaction.atomic
def _load(parsed: dict, sha: str, source: str, user, reason: str, audit: bool) -> PackLoadResult:
    from huifang.callbacks.events import RULE_CHANGED
    from huifang.core.audit.services import audit_record

    head, rules = parsed["pack"], parsed["rules"]
    _check_not_laxer(head, rules)
    result = PackLoadResult(head["code"])
    now = timezone.now()
    pack = RulePack.objects.select_for_update().filter(code=head["code"]).first()
    if pack is None:
        pack = RulePack.objects.create(
            code=head["code"],
            name=head["name"],
            kind=head["kind"],
            precedence=head["precedence"],
            source_file=source[:200],
            source_sha256=sha,
            loaded_at=now,
        )
        result.pack_changed = True
    elif (pack.name, pack.kind, pack.precedence) != (head["name"], head["kind"], head["precedence"]):
        pack.name, pack.kind, pack.precedence = head["name"], head["kind"], head["precedence"]
        result.pack_changed = True
    current = {(r.rule_id, r.effective_from): r for r in pack.rules.filter(superseded_at__isnull=True)}
    last_version = dict(pack.rules.values("rule_id").annotate(v=Max("version")).values_list("rule_id", "v"))
    actor_id = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    changed_ids: list[str] = []
    why = (reason or f"loaded from {source or 'pack file'}")[:300]

    def new_version(values: dict, before: Rule | None) -> Rule:
        version = last_version.get(values["rule_id"], 0) + 1
        last_version[values["rule_id"]] = version
        rule = Rule.objects.create(
            pack=pack, version=version, created_by_id=actor_id, change_reason=why, **values
        )
        if audit:
            audit_record(
                RULE_CHANGED,
                actor=user,
                subject=rule,
                rule=rule.rule_id,
                data={
                    "pack": pack.code,
                    "rule": rule.rule_id,
                    "version": version,
                    "change": "changed" if before else "created",
                    "before": _audit_view(_content(before)) if before else {},
                    "after": _audit_view(_content(values)),
                    "reason": why,
                },
            )
        return rule

    for values in rules:
        key = (values["rule_id"], values["effective_from"])
        old = current.pop(key, None)
        if old is not None and _content(old) == _content(values):
            result.unchanged.append(values["rule_id"])
            continue
        if old is not None:
            old.superseded_at = now
            old.save(update_fields=["superseded_at"])
            result.changed.append(values["rule_id"])
        else:
            result.created.append(values["rule_id"])
        new_version(values, old)
        changed_ids.append(values["rule_id"])
    for old in current.values():  # in the database, no longer in the file
        old.superseded_at = now
        old.save(update_fields=["superseded_at"])
        result.removed.append(old.rule_id)
        changed_ids.append(old.rule_id)
        if audit:
            audit_record(
                RULE_CHANGED,
                actor=user,
                subject=old,
                rule=old.rule_id,
                data={
                    "pack": pack.code,
                    "rule": old.rule_id,
                    "version": old.version,
                    "change": "removed",
                    "before": _audit_view(_content(old)),
                    "after": {},
                    "reason": why,
                },
            )
    if result.any_change or pack.source_sha256 != sha:
        pack.source_file = source[:200]
        pack.source_sha256 = sha
        pack.loaded_at = now
        pack.save()
    if result.any_change:
        logger.info("rule pack %s", result.summary())
    _announce(changed_ids if not result.pack_changed else [*changed_ids, *(r["rule_id"] for r in rules)])
    return result


def rule_packs_load_shipped(*, user=None, reason: str = "", audit: bool = True) -> list[PackLoadResult]:
    """Load every pack shipped with Huifang (``SHIPPED_PACKS``), national first."""
    return [rule_pack_load(PACKS_DIR / name, user=user, reason=reason, audit=audit) for name in SHIPPED_PACKS]


@transaction.atomic
def rule_version_create(rule: Rule, *, reason: str, user=None, **changes) -> Rule:
    """A new version of ``rule`` with ``changes`` (params, conditions, title, citation, certainty,
    effect, effective_to); the old version is superseded. Audited with before/after.

    This is how an administrator edits a rule; the pack file is not rewritten (a later
    ``rule_pack_load`` of an unchanged file would restore the file's version, audited as a change).
    """
    from huifang.callbacks.events import RULE_CHANGED
    from huifang.core.audit.services import audit_record

    allowed = set(CONTENT_FIELDS)
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))} of a rule")
    if not (reason or "").strip():
        raise ValueError("say why the rule changes (reason)")
    old = Rule.objects.select_for_update().select_related("pack").get(pk=rule.pk)
    if old.superseded_at is not None:
        raise ValueError(f"{old} is superseded; change its current version")
    if "conditions" in changes:
        conditions_parse(changes["conditions"])
    values = _content(old) | {
        k: _plain(v) if k in ("params", "conditions") else v for k, v in changes.items()
    }
    if values == _content(old):
        return old
    _check_not_laxer({"kind": old.pack.kind}, [{"rule_id": old.rule_id, "params": values["params"]}])
    now = timezone.now()
    old.superseded_at = now
    old.save(update_fields=["superseded_at"])
    version = (
        Rule.objects.filter(pack=old.pack, rule_id=old.rule_id).aggregate(v=Max("version"))["v"] or 0
    ) + 1
    actor_id = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    new = Rule.objects.create(
        pack=old.pack,
        rule_id=old.rule_id,
        version=version,
        created_by_id=actor_id,
        change_reason=reason.strip()[:300],
        **values,
    )
    audit_record(
        RULE_CHANGED,
        actor=user,
        subject=new,
        rule=new.rule_id,
        data={
            "pack": old.pack.code,
            "rule": new.rule_id,
            "version": version,
            "change": "changed",
            "before": _audit_view(_content(old)),
            "after": _audit_view(_content(new)),
            "reason": reason.strip()[:300],
        },
    )
    _announce([new.rule_id])
    return new


# ---- edits from the administrator screens (/setup/) ---------------------------------------------

_UNCHANGED = object()


def _shipped_national() -> dict[str, list[dict]]:
    """The national pack as shipped (the law as Huifang publishes it): rule id → its versions."""
    parsed = rule_pack_parse((PACKS_DIR / "national.yaml").read_text(encoding="utf-8"), "national.yaml")
    out: dict[str, list[dict]] = {}
    for rule in parsed["rules"]:
        out.setdefault(rule["rule_id"], []).append(rule)
    return out


def rule_laxer_params(rule: Rule, params: dict) -> list[dict]:
    """The parameters in ``params`` that would make ``rule`` laxer than the law, each as
    ``{"key", "value", "limit"}``; empty if none.

    A local or insurer rule is compared with the national rule in force (as ``_check_not_laxer``
    does for pack files); a national rule with the national pack as shipped: an administrator may
    tighten the law's numbers (a shorter deadline, a higher floor), never loosen them.
    """
    pack = rule.pack
    if pack.kind != RulePack.Kind.NATIONAL:
        national = (
            Rule.objects.filter(
                pack__kind=RulePack.Kind.NATIONAL,
                pack__active=True,
                superseded_at__isnull=True,
                rule_id=rule.rule_id,
            )
            .values_list("params", flat=True)
            .first()
        )
    else:
        shipped = _shipped_national().get(rule.rule_id) or []
        base = next((r for r in shipped if r["effective_from"] == rule.effective_from), None)
        base = base or (shipped[-1] if shipped else None)
        national = base["params"] if base else None
    out = []
    for key, value in params.items():
        ref = (national or {}).get(key)
        if isinstance(value, bool) or isinstance(ref, bool):
            continue
        if not isinstance(value, int | float) or not isinstance(ref, int | float):
            continue
        if (key in DEADLINE_PARAMS and value > ref) or (key in FLOOR_PARAMS and value < ref):
            out.append({"key": key, "value": value, "limit": ref})
    return out


def rule_laxer_problems(rule: Rule, params: dict) -> list[str]:
    """``rule_laxer_params`` in words: "BS-17: working_days 20 is laxer than the law (15)"."""
    return [
        f"{rule.rule_id}: {p['key']} {p['value']} is laxer than the law ({p['limit']})"
        for p in rule_laxer_params(rule, params)
    ]


@transaction.atomic
def rule_change(rule: Rule, *, reason: str, user=None, effective_from=_UNCHANGED, **changes) -> Rule:
    """An administrator's change to a rule, from the rule screen: a new version, never an edit.

    ``changes`` are as for ``rule_version_create`` (params, conditions, effective_to, …). With an
    ``effective_from`` later than the current version's, the change is scheduled: the current
    version stays in force until the day before (a new version of it, ending then) and the new
    version starts on that day, so deadlines already computed under the old numbers keep them.
    Without one (or the same), the new version replaces the current one for all its days.

    Refuses (``RulePackInvalid``, nothing changed) numbers laxer than the law
    (``rule_laxer_problems``); ``ValueError`` for a missing reason, a superseded version or bad
    dates; ``ConditionsInvalid`` for bad conditions. Every new version writes ``RULE_CHANGED``.
    """
    old = Rule.objects.select_for_update().select_related("pack").get(pk=rule.pk)
    if not (reason or "").strip():
        raise ValueError("say why the rule changes (reason)")
    if old.superseded_at is not None:
        raise ValueError(f"{old} is superseded; change its current version")
    params = _plain(changes.get("params", old.params))
    problems = rule_laxer_problems(old, params)
    if problems:
        raise RulePackInvalid(problems)
    if effective_from is _UNCHANGED or effective_from == old.effective_from:
        return rule_version_create(old, reason=reason, user=user, **changes)
    if effective_from is None or (old.effective_from and effective_from <= old.effective_from):
        raise ValueError(
            "a scheduled change starts after the current version does "
            f"({old.effective_from.isoformat() if old.effective_from else 'always'})"
        )
    if old.effective_to is not None and old.effective_to < effective_from:
        raise ValueError(
            f"the current version ends on {old.effective_to.isoformat()}, before {effective_from.isoformat()}"
        )
    end = changes.get("effective_to", old.effective_to)
    if end is not None and end < effective_from:
        raise ValueError("effective_to is before effective_from")
    unknown = set(changes) - set(CONTENT_FIELDS)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))} of a rule")
    if "conditions" in changes:
        conditions_parse(changes["conditions"])
    from huifang.callbacks.events import RULE_CHANGED
    from huifang.core.audit.services import audit_record

    why = reason.strip()[:300]
    # The current numbers stay in force up to the day before the new version starts.
    closed = rule_version_create(old, reason=why, user=user, effective_to=effective_from - timedelta(days=1))
    values = _content(old) | {
        k: _plain(v) if k in ("params", "conditions") else v for k, v in changes.items()
    }
    values["effective_from"] = effective_from
    version = (
        Rule.objects.filter(pack=old.pack, rule_id=old.rule_id).aggregate(v=Max("version"))["v"] or 0
    ) + 1
    actor_id = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    new = Rule.objects.create(
        pack=old.pack,
        rule_id=old.rule_id,
        version=version,
        created_by_id=actor_id,
        change_reason=why,
        **values,
    )
    audit_record(
        RULE_CHANGED,
        actor=user,
        subject=new,
        rule=new.rule_id,
        data={
            "pack": old.pack.code,
            "rule": new.rule_id,
            "version": version,
            "change": "scheduled",
            "before": _audit_view(_content(closed)),
            "after": _audit_view(_content(new)),
            "reason": why,
        },
    )
    _announce([new.rule_id])
    return new
