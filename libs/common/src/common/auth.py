"""Tenant authentication: OAuth2/OIDC-style bearer JWTs carrying the tenant and scopes.

Claims: ``iss``, ``aud``, ``sub``, ``exp``, ``tenant`` (the tenant id) and ``scope``
(space-separated, OAuth2 style). Keys: an HS256 secret (embedded default, issued by
``kaden token``), a PEM public key, or a JWKS URL (production identity provider).

A platform operator's token carries the ``platform:operator`` scope and may act for any
tenant by sending ``X-Kaden-Tenant``; for everyone else that header is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from common.errors import Forbidden, Unauthorized
from common.settings import ServiceSettings

OPERATOR_SCOPE = "platform:operator"
# Every scope a tenant's own token may carry (a full-access tenant token has them all).
TENANT_SCOPES: tuple[str, ...] = (
    "leads:read", "leads:write", "campaigns:read", "campaigns:write", "dnc:read", "dnc:write",
    "agents:read", "agents:write", "kpis:read", "compliance:read", "consents:read",
    "consents:write",
)
TENANT_HEADER = "X-Kaden-Tenant"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant every query is scoped to, the subject and its scopes."""

    tenant_id: str
    subject: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes or OPERATOR_SCOPE in self.scopes


class TokenVerifier:
    """Verifies bearer tokens against the configured key, issuer and audience."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._key: Any
        if settings.jwt_public_key:
            self._key, self._algorithms = settings.jwt_public_key, ["RS256", "ES256"]
        elif settings.jwt_secret:
            self._key, self._algorithms = settings.jwt_secret.get_secret_value(), ["HS256"]
        elif self._jwks:
            self._key, self._algorithms = None, ["RS256", "ES256"]
        else:
            raise ValueError("no JWT key configured: set KADEN_JWT_SECRET, "
                             "KADEN_JWT_PUBLIC_KEY or KADEN_JWT_JWKS_URL")

    def verify(self, token: str) -> Principal:
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else self._key
            claims = jwt.decode(
                token, key, algorithms=self._algorithms, audience=self._audience,
                issuer=self._issuer, options={"require": ["exp", "sub", "tenant"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("token audience is not this platform") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("token issuer is not trusted") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        tenant = claims["tenant"]
        if not isinstance(tenant, str) or not tenant:
            raise Unauthorized("token 'tenant' claim must be a non-empty string")
        scope = claims.get("scope", "")
        return Principal(tenant, str(claims["sub"]), frozenset(str(scope).split()))


def issue_token(
    secret: str,
    *,
    tenant_id: str,
    subject: str,
    scopes: Iterable[str],
    issuer: str = "kaden-local",
    audience: str = "kaden",
    ttl_s: int = 8 * 3600,
) -> str:
    """An HS256 token for the embedded default (``kaden token``) and tests."""
    now = int(time.time())
    return jwt.encode(
        {"iss": issuer, "aud": audience, "sub": subject, "tenant": tenant_id,
         "scope": " ".join(sorted(set(scopes))), "iat": now, "exp": now + ttl_s},
        secret,
        algorithm="HS256",
    )


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token (Authorization: Bearer <jwt>)")
    return token.strip()


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, tenant-switched for operators."""
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(_bearer(request))
    acting_for = request.headers.get(TENANT_HEADER)
    if acting_for and acting_for != principal.tenant_id:
        if OPERATOR_SCOPE not in principal.scopes:
            raise Forbidden(f"{TENANT_HEADER} requires the {OPERATOR_SCOPE} scope")
        principal = Principal(acting_for, principal.subject, principal.scopes)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_scopes(*scopes: str) -> Callable[[Principal], Principal]:
    """Dependency factory: the caller must hold every scope (operators hold all)."""

    def check(principal: CurrentPrincipal) -> Principal:
        missing = [s for s in scopes if not principal.has(s)]
        if missing:
            raise Forbidden(f"missing scope(s): {' '.join(missing)}")
        return principal

    return check
