"""Bearer-token authentication for the REST API (django-ninja)."""

from ninja.security import HttpBearer

from huifang.org.tokens import api_token_authenticate


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer hf_…``: looks the token up by its SHA-256 and refuses revoked or
    expired tokens and inactive users. Sets ``request.user`` to the token's user and
    ``request.auth`` to the ``ApiToken``."""

    def authenticate(self, request, token: str):
        api_token = api_token_authenticate(token)
        if api_token is None:
            return None
        request.user = api_token.user
        return api_token
