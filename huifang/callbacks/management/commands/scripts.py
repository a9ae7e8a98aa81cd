"""``huifang scripts load [FILE …]`` and ``huifang scripts show CODE [--version N] [--policy POLICY_NO]``.

``load`` publishes the shipped script packs (or the given YAML files); a definition whose content is
unchanged keeps its version, so running it twice changes nothing. ``show`` prints a script's items;
with ``--policy`` they are rendered for that policy (names masked) and hidden items are marked.
"""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from huifang.callbacks.models import Script
from huifang.callbacks.scripts import script_packs_load, script_render
from huifang.records.models import Policy


class Command(BaseCommand):
    help = "Callback scripts: `scripts load [FILE …]` publishes YAML scripts; `scripts show CODE` prints one."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser(
            "load", help="publish the shipped scripts, or the given YAML files (idempotent)"
        )
        load.add_argument(
            "files", nargs="*", type=Path, help="YAML files (default: the shipped script packs)"
        )
        show = sub.add_parser("show", help="print a script's items, optionally rendered for a policy")
        show.add_argument("code", help="script code, e.g. new_policy")
        show.add_argument("--version", type=int, help="this version (default: the latest published)")
        show.add_argument("--policy", dest="policy_no", metavar="POLICY_NO", help="render for this policy")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _load(self, *, files, **options) -> None:
        for path in files:
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
        try:
            results = script_packs_load(files or None)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        for result in results:
            script = result.script
            state = "published" if result.created else "unchanged"
            self.stdout.write(f"{script.code} v{script.version} ({script.name}): {state}")

    def _show(self, *, code, version, policy_no, **options) -> None:
        scripts = Script.objects.filter(code=code, published_at__isnull=False)
        script = scripts.filter(version=version).first() if version else scripts.order_by("-version").first()
        if script is None:
            raise CommandError(f"no published script {code!r}" + (f" version {version}" if version else ""))
        policy = None
        if policy_no:
            policy = Policy.objects.select_related("product", "applicant").filter(policy_no=policy_no).first()
            if policy is None:
                raise CommandError(f"no policy {policy_no!r}")
        self.stdout.write(f"{script.code} v{script.version} {script.name} [{script.task_kind}]")
        if policy is not None:
            self.stdout.write(f"rendered for policy {policy.policy_no}")
        if policy is None:
            # The templates as written, with their conditions.
            for item in script.items.order_by("position", "id"):
                flags = [item.rule_id] if item.rule_id else []
                flags += ["mandatory" if item.mandatory else "optional", f"expected {item.expected}"]
                if item.conditions:
                    flags.append(f"when {json.dumps(item.conditions, ensure_ascii=False)}")
                self.stdout.write(f"{item.position:>2}. [{item.code}] {' · '.join(flags)}")
                self.stdout.write(f"    {item.text}")
            return
        for item in script_render(script, policy):
            flags = [item.rule_id] if item.rule_id else []
            flags += ["mandatory" if item.mandatory else "optional", f"expected {item.expected}"]
            if not item.visible:
                flags.append("HIDDEN for this policy")
            self.stdout.write(f"{item.position:>2}. [{item.code}] {' · '.join(flags)}")
            self.stdout.write(f"    {item.text}")
