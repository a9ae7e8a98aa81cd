"""``huifang crypto keygen | status | rekey``: key management for the encrypted PII fields."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from huifang.core.crypto import keys


class Command(BaseCommand):
    help = (
        "PII encryption keys: `keygen` prints a new key for the environment, `status` shows the "
        "keyring (ids and fingerprints only), `rekey` re-encrypts every value under the active key."
    )
    # keygen must work where the keys are still missing (that is what it is for).
    requires_system_checks = []

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        keygen = sub.add_parser("keygen", help="print a new 'kid:base64key' entry for HUIFANG_KEYS")
        keygen.add_argument("--kid", default="", help="key id (default: k<YYYYMMDD>)")
        keygen.add_argument(
            "--index", action="store_true", help="print a new HUIFANG_INDEX_KEY value instead"
        )
        status = sub.add_parser("status", help="show the mode, key ids, fingerprints and encrypted fields")
        status.add_argument(
            "--counts",
            action="store_true",
            help="also count rows not yet under the active key (scans every encrypted table)",
        )
        rekey = sub.add_parser(
            "rekey", help="re-encrypt every value not under the active key (safe to re-run)"
        )
        rekey.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1000)")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"do_{action}")(**options)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None

    def do_keygen(self, *, kid, index, **options):
        if index:
            self.stdout.write(keys.b64(keys.new_index_key()))
            self.stderr.write(
                "Set it as HUIFANG_INDEX_KEY. The index key never rotates without re-indexing every "
                "blind-index column: keep the one you have unless you re-index."
            )
            return
        kid = kid or keys.new_kid()
        if not keys.KID_RE.match(kid):
            raise CommandError("A key id is 1-32 characters of A-Z a-z 0-9 _ . -")
        self.stdout.write(f"{kid}:{keys.b64(keys.new_data_key())}")
        self.stderr.write(
            f"Append it to HUIFANG_KEYS (comma-separated, keep the old keys), set HUIFANG_ACTIVE_KEY={kid}, "
            "restart, then run `huifang crypto rekey` to move existing values to it."
        )

    def do_status(self, *, counts, **options):
        from huifang.core.crypto.services import crypto_status

        status = crypto_status(count_stale=counts)
        where = status["source"] + (f" ({status['key_file']})" if status["key_file"] else "")
        self.stdout.write(f"mode: {status['mode']} (new values: {status['algorithm']})")
        self.stdout.write(f"keys from: {where}")
        for key in status["keys"]:
            mark = "  active" if key["active"] else ""
            self.stdout.write(f"  {key['kid']}: {key['bytes']} bytes, fingerprint {key['fingerprint']}{mark}")
        self.stdout.write(f"index key fingerprint: {status['index_key_fingerprint']}")
        self.stdout.write(f"encrypted fields in {len(status['encrypted_fields'])} models:")
        for label, fields in status["encrypted_fields"].items():
            stale = f" — {status['stale_rows'][label]} rows to rekey" if counts else ""
            self.stdout.write(f"  {label}: {', '.join(fields)}{stale}")

    def do_rekey(self, *, batch_size, verbosity=1, **options):
        from huifang.core.crypto.services import crypto_rekey

        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")

        def progress(label, done):
            if verbosity >= 2:
                self.stdout.write(f"  {label}: {done} rows so far")

        counts = crypto_rekey(batch_size=batch_size, on_batch=progress)
        for label, n in counts.items():
            self.stdout.write(f"{label}: {n} rows re-encrypted")
        total = sum(counts.values())
        self.stdout.write(self.style.SUCCESS(f"rekey done: {total} rows re-encrypted under the active key"))
