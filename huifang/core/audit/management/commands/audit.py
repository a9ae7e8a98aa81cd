from django.core.management.base import BaseCommand, CommandError

from huifang.core.audit.services import audit_chain_verify, audit_chains_anchor


class Command(BaseCommand):
    help = (
        "Audit chain tools: `huifang audit verify` walks every hash chain and names the first broken "
        "event; `huifang audit anchor` seals the heads of all chains into one event now."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="verify every chain and anchor; exit 1 at a broken event")
        verify.add_argument(
            "--heads",
            action="store_true",
            help="also print the last verified link of every chain (to keep a copy outside the database)",
        )
        anchor = sub.add_parser("anchor", help="seal the heads of all chains into one audit event now")
        anchor.add_argument(
            "--force", action="store_true", help="write an anchor even if nothing changed since the last one"
        )

    def handle(self, *args, action, **options):
        if action == "anchor":
            event = audit_chains_anchor(force=options["force"])
            if event is None:
                self.stdout.write("nothing written since the last anchor: no new anchor")
            else:
                heads = len(event.data.get("heads", {}))
                self.stdout.write(
                    self.style.SUCCESS(f"anchor #{event.seq} sealed the heads of {heads} chain(s)")
                )
            return
        result = audit_chain_verify()
        if options["heads"]:
            for chain_no, (link, digest) in sorted(result.heads.items()):
                self.stdout.write(f"chain {chain_no}: link #{link} {digest}")
        if result.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"audit chain OK: {result.count} events verified in {len(result.heads)} chain(s), "
                    f"{result.anchors} anchor(s) checked"
                )
            )
            return
        for other in result.breaks[1:]:
            self.stderr.write(
                f"also broken: chain {other.chain} at event #{other.seq} (id {other.id}): {other.reason}"
            )
        raise CommandError(
            f"audit chain BROKEN at event #{result.broken_seq} (id {result.broken_id}): {result.reason}; "
            f"{result.count} events verified (in the chains up to their first break)"
        )
