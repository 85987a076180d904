"""The routes anyone may call without a token. Reviewed by hand: every other route must declare
``Requires(scope=..., role=...)``, and a test fails on one that does neither."""

from __future__ import annotations

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/problems"),
        ("GET", "/problems/{slug}"),
        ("GET", "/.well-known/oauth-authorization-server"),
        ("GET", "/.well-known/jwks.json"),
        # OAuth endpoints authenticate the client themselves (RFC 6749 §2.3).
        ("POST", "/oauth/token"),
        ("POST", "/oauth/revoke"),
        ("POST", "/oauth/introspect"),
        # Authenticates the person by their console session, or sends them to sign in.
        ("GET", "/oauth/authorize"),
        ("GET", "/console/login"),
        # Stylesheets: no personal data, and no inline style is allowed (CSP).
        ("GET", "/console/login.css"),
        ("GET", "/console/console.css"),
        ("POST", "/console/login"),
        ("POST", "/console/logout"),
        # Any other console address: a "not found" page, the same for everyone.
        ("GET", "/console/{rest:path}"),
        ("POST", "/console/{rest:path}"),
        # Authenticated by the sender's signature and a signed delivery attempt (DESIGN §4).
        ("POST", "/federation/v1/messages"),
        ("POST", "/federation/v1/batches"),
        # Public by nature: members, node URLs and public keys, signed by the federation root.
        ("GET", "/v1/directory"),
        ("GET", "/v1/directory/root"),
        # FastAPI's own documentation pages.
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        # Their scripts and styles, served by the node itself (services/api_docs).
        ("GET", "/docs/assets/{name}"),
    }
)
