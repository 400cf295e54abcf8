"""The `oidc_provider` fixture is a real OpenID Provider: discovery, login form, code flow, tokens, userinfo.

The authorization-code flow is done by hand with requests, as a relying party (oauthenticator) does it,
so that the sign-in tests can trust the provider and look for faults on the hub's side only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from tests.components.oidc import Provider, StartProvider, login_through

pytestmark = pytest.mark.integration

CLIENT_ID = "campushub"
CLIENT_SECRET = "client-secret-1"
# Nobody listens here: the flow stops at the redirect to it, as a relying party's callback would receive it.
REDIRECT_URI = "http://127.0.0.1:1/hub/oauth_callback"
SCOPE = "openid profile email groups"
ALICE = {
    "sub": "alice-sub-0001",
    "username": "alice",
    "password": "alice-password-1",
    "email": "alice@campus.test",
    "email_verified": True,
    "name": "Alice Anders",
    "groups": ["students", "physics"],
    "hd": "campus.test",
}
BOB = {
    "sub": "bob-sub-0002",
    "username": "bob",
    "password": "bob-password-1",
    "email": "bob@elsewhere.test",
    "email_verified": False,
    "name": "Bob Baker",
    "groups": [],
}


@pytest.fixture
def provider(oidc_provider: StartProvider) -> Provider:
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]}
    return oidc_provider([client], [ALICE, BOB])


def discovery(provider: Provider) -> dict:
    response = requests.get(provider.discovery_url, timeout=10)
    response.raise_for_status()
    return response.json()


def authorize_url(provider: Provider, state: str, nonce: str | None, **extra: str) -> str:
    """The authorization request a relying party redirects the browser to; no nonce when `nonce` is None."""
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": SCOPE,
        "state": state,
        **({} if nonce is None else {"nonce": nonce}),
        **extra,
    }
    return f"{discovery(provider)['authorization_endpoint']}?{urlencode(params)}"


def sign_in(provider: Provider, user: dict, state: str, nonce: str | None, **extra: str) -> dict[str, str]:
    """Log in through the provider's form; returns the query the relying party's callback would receive."""
    url = authorize_url(provider, state, nonce, **extra)
    response = login_through(requests.Session(), url, user["username"], user["password"], stop_at=REDIRECT_URI)
    assert response.is_redirect, f"HTTP {response.status_code} at {response.url}:\n{response.text[:2000]}"
    callback = response.headers["Location"]
    assert callback.startswith(REDIRECT_URI)
    return {key: values[0] for key, values in parse_qs(urlsplit(callback).query).items()}


def exchange(
    provider: Provider, code: str, auth: str = "basic", secret: str = CLIENT_SECRET, **extra: str
) -> requests.Response:
    """The token request, with the client authenticated by HTTP Basic or in the form body."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}
    token_endpoint = discovery(provider)["token_endpoint"]
    if auth == "basic":
        return requests.post(token_endpoint, data=data, auth=(CLIENT_ID, secret), timeout=10)
    return requests.post(token_endpoint, data={**data, "client_id": CLIENT_ID, "client_secret": secret}, timeout=10)


def jwt_payload(token: str) -> dict:
    """The JWT's claims, unverified: enough to see what a relying party would read from it."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_discovery_names_the_issuer_and_endpoints(provider: Provider):
    document = discovery(provider)
    assert document["issuer"] == provider.issuer == f"http://127.0.0.1:{provider.port}"
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert document[endpoint].startswith(f"{provider.issuer}/"), endpoint
    assert {"openid", "profile", "email", "groups"} <= set(document["scopes_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(document["token_endpoint_auth_methods_supported"])
    assert document["response_types_supported"] == ["code"]
    assert requests.get(document["jwks_uri"], timeout=10).json()["keys"][0]["alg"] == "RS256"


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_code_flow_gives_an_id_token_with_the_users_claims(provider: Provider, auth: str):
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    callback = sign_in(provider, ALICE, state, nonce)
    assert callback["state"] == state
    assert callback["iss"] == provider.issuer  # RFC 9207: the provider names itself in the redirect

    response = exchange(provider, callback["code"], auth=auth)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert set(tokens["scope"].split()) == set(SCOPE.split())
    claims = jwt_payload(tokens["id_token"])
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["nonce"] == nonce
    assert claims["sub"] == ALICE["sub"]
    assert claims["preferred_username"] == "alice"
    assert claims["name"] == "Alice Anders"
    assert claims["email"] == "alice@campus.test"
    assert claims["email_verified"] is True
    assert claims["groups"] == ["students", "physics"]
    assert claims["hd"] == "campus.test"


def test_userinfo_has_the_same_claims(provider: Provider):
    callback = sign_in(provider, BOB, "state-1", "nonce-1")
    access_token = exchange(provider, callback["code"]).json()["access_token"]
    userinfo = requests.get(
        discovery(provider)["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json() == {
        "sub": BOB["sub"],
        "preferred_username": "bob",
        "name": "Bob Baker",
        "email": "bob@elsewhere.test",
        "email_verified": False,
        "groups": [],
    }


def test_scopes_not_requested_give_no_claims(provider: Provider):
    callback = sign_in(provider, ALICE, "state-2", "nonce-2", scope="openid")
    claims = jwt_payload(exchange(provider, callback["code"]).json()["id_token"])
    assert claims["sub"] == ALICE["sub"]
    assert claims["hd"] == "campus.test"  # like Google's, it comes with openid itself
    assert not {"email", "groups", "preferred_username"} & claims.keys()


def test_a_request_without_scopes_is_denied(provider: Provider):
    """oidc-provider grants nothing to an empty scope: a relying party must ask for openid (at least).

    No nonce, as oauthenticator sends none: with a nonce, openid is required before the login form even shows.
    """
    callback = sign_in(provider, ALICE, "state-7", None, scope="")
    assert callback["error"] == "access_denied"
    assert "code" not in callback


def test_pkce_is_honoured_when_sent(provider: Provider):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    pkce = {"code_challenge": challenge.decode(), "code_challenge_method": "S256"}
    wrong = sign_in(provider, ALICE, "state-3", "nonce-3", **pkce)
    assert exchange(provider, wrong["code"], code_verifier="not-" + verifier).json()["error"] == "invalid_grant"
    right = sign_in(provider, ALICE, "state-4", "nonce-4", **pkce)
    assert exchange(provider, right["code"], code_verifier=verifier).status_code == 200


def test_a_wrong_password_shows_invalid_login(provider: Provider):
    url = authorize_url(provider, "state-5", "nonce-5")
    response = login_through(requests.Session(), url, "alice", "not-her-password", stop_at=REDIRECT_URI)
    assert response.status_code == 200
    assert "Invalid login" in response.text
    assert 'id="login"' in response.text  # the form again, to try once more


def test_a_wrong_client_secret_is_refused(provider: Provider):
    callback = sign_in(provider, ALICE, "state-6", "nonce-6")
    for auth in ("basic", "post"):
        response = exchange(provider, callback["code"], auth=auth, secret="not-the-secret")
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
    # The code was not used up by the refused attempts.
    assert exchange(provider, callback["code"]).status_code == 200


def id_token_of(provider: Provider) -> str:
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    response = exchange(provider, sign_in(provider, ALICE, state, nonce)["code"])
    assert response.status_code == 200, response.text
    return response.json()["id_token"]


def verify_with_published_keys(provider: Provider, id_token: str) -> dict:
    key = jwt.PyJWKClient(discovery(provider)["jwks_uri"]).get_signing_key_from_jwt(id_token)
    return jwt.decode(id_token, key.key, algorithms=["RS256"], audience=CLIENT_ID)


def test_id_tokens_verify_against_the_published_keys(provider: Provider):
    assert verify_with_published_keys(provider, id_token_of(provider))["sub"] == ALICE["sub"]


def test_a_forging_provider_signs_with_a_key_it_never_published(oidc_provider: StartProvider):
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]}
    forger = oidc_provider([client], [ALICE], forge_id_token_signatures=True)
    id_token = id_token_of(forger)
    assert jwt_payload(id_token)["sub"] == ALICE["sub"]  # the claims are untouched
    with pytest.raises(jwt.InvalidSignatureError):
        verify_with_published_keys(forger, id_token)
