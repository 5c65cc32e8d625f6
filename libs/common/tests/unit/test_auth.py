from __future__ import annotations

import time

import jwt
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from common.auth import CurrentPrincipal, Principal, TokenVerifier, issue_token, require_scopes
from common.errors import Unauthorized, install_error_handlers
from common.settings import ServiceSettings

SECRET = "s3cret-for-tests-only-0123456789abcdef"


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.state.token_verifier = TokenVerifier(ServiceSettings(jwt_secret=SECRET))
    install_error_handlers(app)

    @app.get("/whoami")
    def whoami(p: CurrentPrincipal) -> dict[str, str]:
        return {"tenant": p.tenant_id}

    @app.post("/leads")
    def write(p: Principal = Depends(require_scopes("leads:write"))) -> dict[str, str]:
        return {"tenant": p.tenant_id}

    return TestClient(app)


def token(**kw) -> str:
    args = {"tenant_id": "acme", "subject": "u1", "scopes": ["leads:read"]} | kw
    return issue_token(SECRET, **args)


def test_tenant_comes_from_the_token(client: TestClient) -> None:
    r = client.get("/whoami", headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 200 and r.json() == {"tenant": "acme"}


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "missing bearer token"),
        ({"Authorization": "Basic abc"}, 401, "missing bearer token"),
        ({"Authorization": "Bearer not.a.jwt"}, 401, "invalid token"),
        ({"Authorization": f"Bearer {token(ttl_s=-10)}"}, 401, "token expired"),
        ({"Authorization": f"Bearer {token(audience='other')}"}, 401, "audience"),
        ({"Authorization": f"Bearer {token(issuer='evil')}"}, 401, "issuer"),
        ({"Authorization": f"Bearer {token(tenant_id='')}"}, 401, "tenant"),
    ],
)
def test_bad_tokens_get_401_with_a_precise_message(client, headers, status, message) -> None:
    r = client.get("/whoami", headers=headers)
    assert r.status_code == status
    assert message in r.json()["error"]["message"]


def test_forged_signature_is_refused(client: TestClient) -> None:
    forged = jwt.encode({"sub": "u", "tenant": "acme", "aud": "kaden", "iss": "kaden-local",
                         "exp": int(time.time()) + 60}, "another-key-0123456789abcdef0123", "HS256")
    assert client.get("/whoami", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_missing_scope_is_403(client: TestClient) -> None:
    r = client.post("/leads", headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 403 and "leads:write" in r.json()["error"]["message"]
    ok = client.post("/leads", headers={"Authorization": f"Bearer {token(scopes=['leads:write'])}"})
    assert ok.status_code == 200


def test_only_operators_may_act_for_another_tenant(client: TestClient) -> None:
    h = {"Authorization": f"Bearer {token()}", "X-Kaden-Tenant": "globex"}
    assert client.get("/whoami", headers=h).status_code == 403
    op = {"Authorization": f"Bearer {token(scopes=['platform:operator'])}", "X-Kaden-Tenant": "globex"}
    assert client.get("/whoami", headers=op).json() == {"tenant": "globex"}


def test_verifier_without_any_key_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="KADEN_JWT_SECRET"):
        TokenVerifier(ServiceSettings())


def test_unauthorized_is_a_domain_error() -> None:
    assert Unauthorized("x").status_code == 401
