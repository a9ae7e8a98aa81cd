from django.core.management.base import BaseCommand, CommandError

from huifang.core.audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "Audit chain tools: `huifang audit verify` walks the hash chain and names the first broken event."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="verify the whole chain; exit 1 at the first broken event")

    def handle(self, *args, action, **options):
        if action == "verify":
            result = audit_chain_verify()
            if result.ok:
                self.stdout.write(self.style.SUCCESS(f"audit chain OK: {result.count} events verified"))
                return
            raise CommandError(
                f"audit chain BROKEN at event #{result.broken_seq} (id {result.broken_id}): {result.reason}; "
                f"{result.count} events before it verified"
            )
