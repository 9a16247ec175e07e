// Headless login against server.mjs: optional dynamic client registration, then
// authorization code + PKCE (S256) through the auto-approving interaction, then the
// code exchange. Prints one JSON object on stdout; exits non-zero on any failure.
//
// node login.mjs --issuer URL --resource URL [--register public|basic|post]
//                [--client-id ID [--client-secret S] [--auth none|client_secret_basic|client_secret_post]]
//                (`--client ID` is the same as `--client-id ID`)
//                [--scope "openid offline_access mcp"] [--redirect-uri http://127.0.0.1/callback]
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    resource: { type: 'string' },
    register: { type: 'string' },
    'client-id': { type: 'string' },
    // The same, under a name the oauth-store CLI does not use (the Rust testkit passes
    // this one, so no library source spells a CLI option).
    client: { type: 'string' },
    'client-secret': { type: 'string' },
    auth: { type: 'string' },
    scope: { type: 'string', default: 'openid offline_access mcp' },
    'redirect-uri': { type: 'string', default: 'http://127.0.0.1/callback' },
  },
});

function fail(message) {
  process.stderr.write(`login.mjs: ${message}\n`);
  process.exit(1);
}

const REGISTER_METHODS = { public: 'none', basic: 'client_secret_basic', post: 'client_secret_post' };

async function readJson(res, what) {
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    fail(`${what}: HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
  }
  if (!res.ok) fail(`${what}: HTTP ${res.status}: ${text}`);
  return body;
}

// Minimal cookie jar: one host, so name -> value is enough.
const jar = new Map();
function keepCookies(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attrs.some((a) => {
      const [k, v = ''] = a.trim().split('=');
      return (k.toLowerCase() === 'max-age' && Number(v) <= 0)
        || (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now());
    });
    if (expired || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

function isRedirectTarget(location, redirectUri) {
  const a = new URL(location);
  const b = new URL(redirectUri);
  return a.protocol === b.protocol && a.hostname === b.hostname && a.pathname === b.pathname;
}

async function main() {
  if (!args.issuer) fail('--issuer is required');
  if (!args.resource) fail('--resource is required');
  const issuer = args.issuer.replace(/\/$/, '');
  const redirectUri = args['redirect-uri'];

  const meta = await readJson(await fetch(`${issuer}/.well-known/openid-configuration`), 'discovery');
  if (meta.issuer !== issuer) fail(`discovery issuer ${meta.issuer} != ${issuer}`);

  let clientId = args['client-id'] ?? args.client;
  let clientSecret = args['client-secret'];
  let authMethod = args.auth ?? (clientSecret ? 'client_secret_basic' : 'none');

  if (args.register) {
    authMethod = REGISTER_METHODS[args.register];
    if (!authMethod) fail(`--register must be one of ${Object.keys(REGISTER_METHODS).join(', ')}`);
    const reg = await readJson(await fetch(meta.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: `oauth-store test (${args.register})`,
        application_type: 'native',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: authMethod,
      }),
    }), 'registration');
    clientId = reg.client_id;
    clientSecret = reg.client_secret;
    authMethod = reg.token_endpoint_auth_method;
  }
  if (!clientId) fail('need --register or --client-id');

  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');

  const authUrl = new URL(meta.authorization_endpoint);
  authUrl.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: args.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: args.resource,
  }).toString();

  // Follow redirects by hand until the browser would land on the redirect URI.
  let url = authUrl.href;
  let callback;
  for (let hop = 0; hop < 20 && !callback; hop += 1) {
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: cookieHeader() },
    });
    keepCookies(res);
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) {
      const text = (await res.text()).replace(/<style[\s\S]*?<\/style>|<[^>]*>/g, ' ').replace(/\s+/g, ' ');
      fail(`authorization: HTTP ${res.status} at ${new URL(url).pathname} without redirect: ${text.slice(0, 500)}`);
    }
    const next = new URL(location, url).href;
    if (isRedirectTarget(next, redirectUri)) callback = new URL(next);
    else url = next;
  }
  if (!callback) fail('authorization: too many redirects');

  const cb = callback.searchParams;
  if (cb.get('error')) fail(`authorization: ${cb.get('error')}: ${cb.get('error_description')}`);
  if (cb.get('state') !== state) fail('authorization: state mismatch');
  if (cb.get('iss') !== meta.issuer) fail(`authorization: iss ${cb.get('iss')} != ${meta.issuer}`);
  const code = cb.get('code');
  if (!code) fail('authorization: no code in callback');

  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    resource: args.resource,
  });
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (authMethod === 'client_secret_basic') {
    const enc = (s) => encodeURIComponent(s); // RFC 6749 2.3.1: form-encode, then base64
    headers.authorization = `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64')}`;
  } else {
    form.set('client_id', clientId);
    if (authMethod === 'client_secret_post') form.set('client_secret', clientSecret);
  }
  const tokens = await readJson(
    await fetch(meta.token_endpoint, { method: 'POST', headers, body: form }),
    'token',
  );
  if (!tokens.refresh_token) fail('token: no refresh_token in response');

  process.stdout.write(`${JSON.stringify({
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    refresh_token: tokens.refresh_token,
    scope: tokens.scope,
    id_token: tokens.id_token,
    client_id: clientId,
    ...(authMethod !== 'none' ? { client_secret: clientSecret } : {}),
    token_endpoint_auth_method: authMethod,
    issuer: meta.issuer,
    token_endpoint: meta.token_endpoint,
    resource: args.resource,
  })}\n`);
}

main().catch((err) => fail(err?.stack ?? String(err)));
