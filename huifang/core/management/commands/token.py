"""``huifang token create|list|revoke``: REST API bearer tokens."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from huifang.org.models import User
from huifang.org.tokens import (
    api_token_create,
    api_token_find,
    api_token_list,
    api_token_revoke,
    api_token_status,
)


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


class Command(BaseCommand):
    help = (
        "REST API tokens: `token create --user NAME [--name N] [--days D]` prints the secret once; "
        "`token list [--user NAME]`; `token revoke PREFIX`."
    )

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print its secret (shown only once)")
        create.add_argument("--user", required=True, help="username the token acts as")
        create.add_argument("--name", default="cli", help="what the token is for (default: %(default)s)")
        create.add_argument(
            "--days", type=int, default=365, help="valid for D days; 0 for no expiry (default: %(default)s)"
        )
        listing = sub.add_parser("list", help="list tokens (never their secrets)")
        listing.add_argument("--user", help="only this user's tokens")
        revoke = sub.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("prefix", help="the token's prefix (as shown by `token list`)")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _user(self, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        return user

    def _create(self, *, user: str, name: str, days: int, **options) -> None:
        if days < 0:
            raise CommandError("--days must be 0 (no expiry) or more")
        owner = self._user(user)
        if not owner.is_active:
            raise CommandError(f"user {user!r} is inactive")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        token, secret = api_token_create(owner, name, expires_at)
        self.stderr.write(
            f"Token {token.prefix} for {owner.username} ({token.name}), expires {_when(expires_at)}. "
            "The secret below is shown only once; store it now:"
        )
        self.stdout.write(secret)

    def _list(self, *, user: str | None, **options) -> None:
        tokens = api_token_list(self._user(user) if user else None)
        rows = [("PREFIX", "USER", "NAME", "STATUS", "CREATED", "LAST USED", "EXPIRES")]
        rows += [
            (
                t.prefix,
                t.user.username,
                t.name,
                api_token_status(t),
                _when(t.created_at),
                _when(t.last_used_at),
                _when(t.expires_at),
            )
            for t in tokens
        ]
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())

    def _revoke(self, *, prefix: str, **options) -> None:
        matches = api_token_find(prefix)
        if not matches:
            raise CommandError(f"no token with prefix {prefix!r}")
        if len(matches) > 1:
            raise CommandError(f"{len(matches)} tokens have prefix {prefix!r}; revoke one in the admin")
        token = matches[0]
        if token.revoked_at is not None:
            self.stdout.write(f"token {token.prefix} was already revoked at {_when(token.revoked_at)}")
            return
        api_token_revoke(token, actor=None)
        self.stdout.write(f"token {token.prefix} ({token.user.username}, {token.name}) revoked")
