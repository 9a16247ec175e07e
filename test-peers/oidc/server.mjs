// A real OAuth 2 authorization server (oidc-provider 9) for the oauth-store tests.
//
// Prints `READY {"issuer":...,"port":...}` once listening, then one JSON line per
// event on stdout. See README.md.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { fstatSync } from 'node:fs';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

import MemoryAdapter from './adapter.mjs';

const ACCESS_TOKEN_TTL = Number(process.env.ACCESS_TOKEN_TTL ?? 2);
const REFRESH_TOKEN_TTL = Number(process.env.REFRESH_TOKEN_TTL ?? 3600);
const ACCOUNT_ID = 'test-user';
const REDIRECT_URI = 'http://127.0.0.1/callback';
const SCOPES = 'openid offline_access mcp';
// Test-only: metadata members (comma separated) removed from the discovery documents,
// e.g. `code_challenge_methods_supported` for a server a client must refuse.
const DISCOVERY_DROP = (process.env.DISCOVERY_DROP ?? '').split(',').filter(Boolean);

// stdout carries only the READY line and event lines: oidc-provider prints its
// NOTICEs with console.info, so send console output to stderr.
console.log = console.info = console.error;

const stats = { refreshes: 0, reuse_detections: 0, grant_errors: 0, revoked_grants: 0 };

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const isHttpUrl = (value) => {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
};

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const staticClient = {
  application_type: 'native', // native + http loopback redirect: any port is accepted (RFC 8252)
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
};

const provider = new Provider(issuer, {
  adapter: MemoryAdapter,
  jwks: {
    keys: [{
      ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
      kid: 'test', use: 'sig', alg: 'RS256',
    }],
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  clients: [
    { ...staticClient, client_id: 'test-public', token_endpoint_auth_method: 'none' },
    {
      ...staticClient,
      client_id: 'test-confidential',
      client_secret: 'test-confidential-secret',
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // Dynamically registered clients get the same defaults unless they say otherwise.
  clientDefaults: {
    ...staticClient,
    redirect_uris: undefined,
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  },
  scopes: SCOPES.split(' '),
  claims: { openid: ['sub'] },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  pkce: { required: () => true }, // v9 supports S256 only
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    RefreshToken: REFRESH_TOKEN_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 14 * 86400,
    Grant: 14 * 86400 + REFRESH_TOKEN_TTL,
  },
  // Every client rotates, every client with the refresh_token grant gets one (no
  // offline_access / prompt=consent dance), and it outlives the login session.
  rotateRefreshToken: () => true,
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    revocation: { enabled: true },
    // RFC 8628; the user code is confirmed by POST /test/device-approve (below), which
    // walks oidc-provider's own /device forms.
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => {
        if (!isHttpUrl(resource)) throw new errors.InvalidTarget();
        return { scope: SCOPES, accessTokenFormat: 'opaque', accessTokenTTL: ACCESS_TOKEN_TTL };
      },
    },
  },
});

provider.use(async (ctx, next) => {
  await next();
  if (DISCOVERY_DROP.length && ctx.path.startsWith('/.well-known/') && ctx.body && typeof ctx.body === 'object') {
    for (const member of DISCOVERY_DROP) delete ctx.body[member];
  }
});

const REUSE_DETAIL = 'refresh token already used'; // what v9 puts in err.error_detail

provider.on('grant.success', (ctx) => {
  const grantType = ctx.oidc.params.grant_type;
  const refresh = grantType === 'refresh_token';
  if (refresh) stats.refreshes += 1;
  emit({
    event: 'grant.success',
    grant_type: grantType,
    refresh,
    client_id: ctx.oidc.client?.clientId,
    grant_id: ctx.oidc.entities.Grant?.jti,
    resource: ctx.oidc.params.resource,
    code_verifier: Boolean(ctx.oidc.params.code_verifier),
  });
});

provider.on('grant.error', (ctx, err) => {
  const reuse = err.error_detail === REUSE_DETAIL;
  stats.grant_errors += 1;
  if (reuse) stats.reuse_detections += 1;
  emit({
    event: 'grant.error',
    error: err.error ?? err.message,
    error_description: err.error_description,
    error_detail: err.error_detail,
    reuse,
    grant_type: ctx.oidc?.params?.grant_type,
    client_id: ctx.oidc?.client?.clientId,
    grant_id: ctx.oidc?.entities?.RefreshToken?.grantId,
  });
});

provider.on('grant.revoked', (ctx, grantId) => {
  stats.revoked_grants += 1;
  emit({ event: 'grant.revoked', grant_id: grantId, route: ctx.oidc?.route });
});

provider.on('server_error', (ctx, err) => {
  emit({ event: 'server_error', path: ctx.path, message: String(err?.message ?? err) });
});

// Auto-approving interaction: log in test-user and grant everything requested.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: ACCOUNT_ID, clientId: params.client_id });
  if (params.scope) grant.addOIDCScope(params.scope);
  const resources = [params.resource ?? []].flat();
  for (const resource of resources) grant.addResourceScope(resource, params.scope ?? SCOPES);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId: ACCOUNT_ID },
    consent: { grantId },
  }, { mergeWithLastSubmission: true });
}

// Revoke the whole grant that a refresh token belongs to ("revoked at the peer").
async function revokeGrant(refreshTokenValue) {
  const token = await provider.RefreshToken.find(refreshTokenValue, { ignoreExpiration: true });
  if (!token) return undefined;
  const { grantId } = token;
  await Promise.all([
    provider.AccessToken.revokeByGrantId(grantId),
    provider.RefreshToken.revokeByGrantId(grantId),
    provider.AuthorizationCode.revokeByGrantId(grantId),
    provider.Grant.adapter.destroy(grantId),
  ]);
  stats.revoked_grants += 1;
  emit({ event: 'grant.revoked', grant_id: grantId, route: 'test/revoke-grant' });
  return grantId;
}

// Completes a device authorization (RFC 8628 section 3.3) as a person at a browser
// would: GET /device, POST the user code, POST the confirmation, then follow the
// redirects through the (auto-approving) interaction, carrying the cookies. True when
// oidc-provider's success page came back. With `deny`, the person presses Abort
// instead (the device's next poll gets access_denied); true when that was taken.
async function approveDevice(userCode, deny = false) {
  const jar = new Map();
  const send = async (path, init = {}) => {
    const headers = { ...(init.headers ?? {}) };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(new URL(path, issuer), { ...init, headers, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      const value = pair.slice(at + 1);
      if (value && !/expires=Thu, 01 Jan 1970/i.test(cookie)) jar.set(pair.slice(0, at), value);
      else jar.delete(pair.slice(0, at));
    }
    return response;
  };
  const xsrfOf = (html) => /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  const form = (body) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  const xsrf = xsrfOf(await (await send('/device')).text());
  const confirmPage = await (await send('/device', form({ xsrf, user_code: userCode }))).text();
  const confirmXsrf = xsrfOf(confirmPage);
  if (!confirmXsrf) return false;
  if (deny) {
    // oidc-provider answers with its error page (access_denied) and marks the code.
    await (await send('/device', form({ xsrf: confirmXsrf, user_code: userCode, abort: 'yes' }))).text();
    return true;
  }
  let response = await send('/device', form({ xsrf: confirmXsrf, user_code: userCode, confirm: 'yes' }));
  for (let hop = 0; hop < 10 && response.status >= 300 && response.status < 400; hop += 1) {
    response = await send(response.headers.get('location'));
  }
  const page = await response.text();
  return response.status === 200 && /Sign-in Success/i.test(page);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const providerCallback = provider.callback();

// Token requests run one at a time, so two requests racing with the same refresh
// token can never both pass the "already used" check: the later one is always
// seen as reuse (strict, like a provider with an atomic consume).
let tokenQueue = Promise.resolve();
function serializeTokenRequest(req, res) {
  const turn = tokenQueue.then(() => new Promise((resolve) => {
    res.once('close', resolve);
    providerCallback(req, res);
  }));
  tokenQueue = turn;
  return turn;
}

server.on('request', async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith('/interaction/')) {
      await interaction(req, res);
    } else if (req.method === 'GET' && url.pathname === '/test/stats') {
      json(res, 200, stats);
    } else if (req.method === 'POST' && url.pathname === '/test/device-approve') {
      const form = new URLSearchParams(await readBody(req));
      const userCode = form.get('user_code') ?? '';
      const deny = form.get('deny') === '1';
      const done = await approveDevice(userCode, deny);
      emit({ event: 'device.approve', approved: done && !deny, denied: done && deny });
      json(res, done ? 200 : 400, deny ? { denied: done } : { approved: done });
    } else if (req.method === 'POST' && url.pathname === '/test/revoke-grant') {
      const form = new URLSearchParams(await readBody(req));
      const value = url.searchParams.get('refresh_token') ?? form.get('refresh_token');
      const grantId = value && await revokeGrant(value);
      if (grantId) json(res, 200, { revoked: true, grant_id: grantId });
      else json(res, 404, { revoked: false, error: 'refresh token not found' });
    } else {
      if (url.pathname === '/.well-known/oauth-authorization-server') {
        req.url = '/.well-known/openid-configuration'; // RFC 8414 path, same metadata
      }
      if (url.pathname === '/auth') {
        // What the client asked for at the authorization endpoint (no secret in it:
        // the code challenge is public), so tests can check resource and PKCE.
        const p = url.searchParams;
        emit({
          event: 'authorization',
          client_id: p.get('client_id'),
          resource: p.getAll('resource'),
          scope: p.get('scope'),
          code_challenge_method: p.get('code_challenge_method'),
          has_code_challenge: Boolean(p.get('code_challenge')),
          has_state: Boolean(p.get('state')),
          redirect_uri: p.get('redirect_uri'),
        });
      }
      if (req.method === 'POST' && url.pathname === '/token') {
        await serializeTokenRequest(req, res);
      } else {
        providerCallback(req, res);
      }
    }
  } catch (err) {
    emit({ event: 'server_error', path: url.pathname, message: String(err?.message ?? err) });
    if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: String(err?.message ?? err) });
  }
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Exit when the parent closes our stdin (e.g. a crashed test). Only when stdin is a
// pipe or socket: a /dev/null stdin (Stdio::null()) would read EOF at once.
const stdinStat = fstatSync(0, { throwIfNoEntry: false });
if (stdinStat && (stdinStat.isFIFO() || stdinStat.isSocket())) {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

process.stdout.write(`READY ${JSON.stringify({ issuer, port })}\n`);
