// A real OpenID Provider (panva's certified oidc-provider) for CampusHub's sign-in tests.
//
//   node server.mjs config.json
//
// config.json: {issuer, port, clients: [{client_id, client_secret, redirect_uris}],
//               users: [{sub, username, password, email, email_verified, name, groups, hd?, tid?}],
//               forge_id_token_signatures?: true}
//
// forge_id_token_signatures plays an attacker between the relying party and the token endpoint: each
// ID token it issues is re-signed with a key it never published (same header, same claims, same kid).
//
// oidc-provider ships no login pages, so the interaction route below is ours: a plain
// username/password form for the login prompt, and an automatic grant of whatever was
// requested for the consent prompt (tests should not have to click "Allow").
// Everything lives in memory and is gone when the process exits.

import { createPrivateKey, createSign, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

// oidc-provider 9 targets Node 22 LTS (on Node 20 it prints "Unsupported runtime" and works). The one
// newer API it calls is URL.parse (Node 22.1, backported to late Node 20: 20.20 has it), on redirect URIs; an
// older Node 20 gets this equivalent (null instead of throwing) before oidc-provider is loaded.
URL.parse ??= (url, base) => {
  try {
    return new URL(url, base);
  } catch {
    return null;
  }
};
const { default: Provider } = await import('oidc-provider');

const INTERACTION_PATH = /^\/interaction\/([\w-]+)$/;
const MAX_FORM_BYTES = 64 * 1024;

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const usersBySub = new Map(config.users.map((user) => [user.sub, user]));
const usersByName = new Map(config.users.map((user) => [user.username, user]));

/** Every claim a user has; oidc-provider keeps only those the granted scopes/claims cover. */
function claimsOf(user) {
  return {
    sub: user.sub,
    name: user.name,
    preferred_username: user.username,
    email: user.email,
    email_verified: user.email_verified,
    groups: user.groups ?? [],
    ...(user.hd ? { hd: user.hd } : {}),
    ...(user.tid ? { tid: user.tid } : {}),
  };
}

async function findAccount(_ctx, sub) {
  const user = usersBySub.get(sub);
  return user && { accountId: sub, claims: async () => claimsOf(user) };
}

/** A fresh RS256 key per run (made by the test fixture), so the provider does not fall back to its shared
 * development keys. */
function signingKey() {
  return config.signing_jwk;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = `<!doctype html><title>Error</title><h1>${escapeHtml(out.error)}</h1>`
    + `<p id="error_description">${escapeHtml(out.error_description ?? '')}</p>`;
}

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // Registered as basic, but oidc-provider accepts client_secret_post for it too.
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  findAccount,
  claims: {
    openid: ['sub', 'hd', 'tid'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
    sid: null,
    auth_time: null,
  },
  // Scope claims go into the id_token too, not only userinfo (what most campus IdPs do).
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  pkce: { required: () => false },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  jwks: { keys: [signingKey()] },
  cookies: {
    // Browsers (and requests) do not separate cookies by port: the relying party on another loopback
    // port shares this jar, so keep the provider's names clear of any `_session` it might set.
    names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
    keys: [randomBytes(32).toString('hex')],
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  renderError,
});

function loginPage(uid, clientId, error) {
  const message = error ? `<p id="error" role="alert">${escapeHtml(error)}</p>` : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in to ${escapeHtml(clientId)}</h1>
${message}
<form method="post" action="/interaction/${escapeHtml(uid)}" autocomplete="off">
  <label for="login">Username</label> <input id="login" name="login" autofocus>
  <label for="password">Password</label> <input id="password" name="password" type="password">
  <button id="submit" type="submit">Sign in</button>
</form>
</body></html>`;
}

function sendHtml(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > MAX_FORM_BYTES) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

/** Consent without a click: grant exactly what the consent prompt says is missing. */
async function grantConsent(req, res, details) {
  const { prompt, grantId, session, params } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } });
}

async function submitLogin(req, res, details) {
  const form = await readForm(req);
  const user = usersByName.get(form.get('login') ?? '');
  if (!user || user.password !== form.get('password')) {
    sendHtml(res, 200, loginPage(details.uid, details.params.client_id, 'Invalid login'));
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'consent') {
    await grantConsent(req, res, details);
  } else if (req.method === 'POST') {
    await submitLogin(req, res, details);
  } else {
    sendHtml(res, 200, loginPage(details.uid, details.params.client_id));
  }
}

const handleProtocol = provider.callback();
const forgerKey = config.forge_id_token_signatures
  ? createPrivateKey({ key: config.forger_jwk, format: 'jwk' })
  : null;

/** The same header and claims, an RS256 signature by a key the relying party cannot know. */
function forged(idToken) {
  const [header, payload] = idToken.split('.');
  const signature = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(forgerKey);
  return `${header}.${payload}.${signature.toString('base64url')}`;
}

/** Rewrite the id_token in token endpoint responses (same length: one RSA-2048 signature for another). */
function forgeIdTokens(res) {
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    if (chunk) {
      try {
        const body = JSON.parse(chunk.toString());
        if (body.id_token) {
          body.id_token = forged(body.id_token);
          return end(JSON.stringify(body), ...rest);
        }
      } catch {
        // not JSON: pass it through untouched
      }
    }
    return end(chunk, ...rest);
  };
}

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url, config.issuer);
  if (!INTERACTION_PATH.test(pathname)) {
    if (forgerKey && pathname === '/token') forgeIdTokens(res);
    handleProtocol(req, res);
    return;
  }
  interaction(req, res).catch((error) => {
    console.error(error);
    if (!res.headersSent) sendHtml(res, 400, `<!doctype html><h1>Interaction failed</h1><p>${escapeHtml(error.message)}</p>`);
  });
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

server.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
