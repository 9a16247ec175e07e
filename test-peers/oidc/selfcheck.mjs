// Self-check of the test peer: node test-peers/oidc/selfcheck.mjs (after npm ci).
// Starts server.mjs, logs in, refreshes, replays, and checks events and stats.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const dir = fileURLToPath(new URL('.', import.meta.url));
const RESOURCE = 'http://127.0.0.1:9/mcp';

const server = spawn(process.execPath, [`${dir}server.mjs`], {
  env: { ...process.env, ACCESS_TOKEN_TTL: '2', REFRESH_TOKEN_TTL: '3600' },
  stdio: ['pipe', 'pipe', 'inherit'],
});
const events = [];
let ready;
const readyLine = new Promise((resolve) => { ready = resolve; });
createInterface({ input: server.stdout }).on('line', (line) => {
  if (line.startsWith('READY ')) ready(JSON.parse(line.slice(6)));
  else events.push(JSON.parse(line));
});
const { issuer } = await readyLine;

let passed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (err) {
    console.log(`not ok - ${name}\n${err.stack}`);
    console.log(`${passed} passed, 1 failed`);
    server.kill('SIGTERM');
    process.exit(1);
  }
}

async function login(...extra) {
  const { stdout } = await promisify(execFile)(process.execPath, [
    `${dir}login.mjs`, '--issuer', issuer, '--resource', RESOURCE, ...extra,
  ]);
  return JSON.parse(stdout);
}

function clientAuth(creds, form) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (creds.token_endpoint_auth_method === 'client_secret_basic') {
    const enc = encodeURIComponent;
    headers.authorization = `Basic ${Buffer.from(`${enc(creds.client_id)}:${enc(creds.client_secret)}`).toString('base64')}`;
  } else {
    form.set('client_id', creds.client_id);
    if (creds.client_secret) form.set('client_secret', creds.client_secret);
  }
  return headers;
}

async function refresh(creds, refreshToken) {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, resource: RESOURCE });
  const res = await fetch(creds.token_endpoint, { method: 'POST', headers: clientAuth(creds, form), body: form });
  return { status: res.status, body: await res.json() };
}

const stats = async () => (await fetch(`${issuer}/test/stats`)).json();
const settle = () => new Promise((r) => { setTimeout(r, 100); });

// Refresh twice (rotation), replay the first refresh token (reuse -> whole grant
// revoked), then the newest refresh token must be dead too.
async function reuseScenario(creds) {
  const r0 = creds.refresh_token;
  const a = await refresh(creds, r0);
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.notEqual(a.body.refresh_token, r0);
  const b = await refresh(creds, a.body.refresh_token);
  assert.equal(b.status, 200, JSON.stringify(b.body));
  assert.notEqual(b.body.refresh_token, a.body.refresh_token);
  assert.equal(b.body.expires_in, 2);

  const before = events.length;
  const replay = await refresh(creds, r0);
  assert.equal(replay.status, 400);
  assert.deepEqual(replay.body, { error: 'invalid_grant', error_description: 'grant request is invalid' });
  await settle();
  const fresh = events.slice(before);
  const err = fresh.find((e) => e.event === 'grant.error');
  assert.equal(err.reuse, true, JSON.stringify(fresh));
  assert.equal(err.error_detail, 'refresh token already used');
  assert.ok(fresh.some((e) => e.event === 'grant.revoked' && e.grant_id === err.grant_id));

  const newest = await refresh(creds, b.body.refresh_token);
  assert.equal(newest.status, 400);
  assert.equal(newest.body.error, 'invalid_grant');
  await settle();
  const last = events.at(-1);
  assert.equal(last.event, 'grant.error');
  assert.equal(last.reuse, false);
}

await check('public static client: rotation, reuse detection, grant revoked', async () => {
  const creds = await login('--client-id', 'test-public');
  assert.equal(creds.token_endpoint_auth_method, 'none');
  assert.equal(creds.client_secret, undefined);
  await reuseScenario(creds);
});

await check('registered client_secret_basic client: same', async () => {
  const creds = await login('--register', 'basic');
  assert.equal(creds.token_endpoint_auth_method, 'client_secret_basic');
  assert.ok(creds.client_secret);
  await reuseScenario(creds);
});

await check('registered public and client_secret_post clients refresh', async () => {
  for (const kind of ['public', 'post']) {
    const creds = await login('--register', kind);
    const r = await refresh(creds, creds.refresh_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
});

await check('static confidential client + introspection shows the resource', async () => {
  const creds = await login('--client-id', 'test-confidential', '--client-secret', 'test-confidential-secret');
  const form = new URLSearchParams({ token: creds.access_token });
  const res = await fetch(`${issuer}/token/introspection`, { method: 'POST', headers: clientAuth(creds, form), body: form });
  const body = await res.json();
  assert.equal(body.active, true, JSON.stringify(body));
  assert.equal(body.aud, RESOURCE);
});

await check('POST /test/revoke-grant kills the grant', async () => {
  const creds = await login('--client-id', 'test-public');
  const res = await fetch(`${issuer}/test/revoke-grant`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ refresh_token: creds.refresh_token }),
  });
  assert.equal(res.status, 200);
  const r = await refresh(creds, creds.refresh_token);
  assert.equal(r.status, 400);
});

await check('standard revocation endpoint revokes the grant', async () => {
  const creds = await login('--register', 'basic');
  const form = new URLSearchParams({ token: creds.refresh_token, token_type_hint: 'refresh_token' });
  const res = await fetch(`${issuer}/token/revocation`, { method: 'POST', headers: clientAuth(creds, form), body: form });
  assert.equal(res.status, 200);
  const r = await refresh(creds, creds.refresh_token);
  assert.equal(r.status, 400);
});

await check('/test/stats counts', async () => {
  await settle();
  // refreshes: 2+2 (reuse scenarios) + 2 (public/post); reuse: 2; grant errors:
  // 2 replays + 2 dead newest + 1 revoke-grant + 1 revocation; revoked grants: 2 reuse
  // + 1 test route + 1 revocation endpoint.
  assert.deepEqual(await stats(), { refreshes: 6, reuse_detections: 2, grant_errors: 6, revoked_grants: 4 });
});

await check('concurrent refreshes with one refresh token: one wins, reuse detected', async () => {
  const creds = await login('--client-id', 'test-public');
  const results = await Promise.all([1, 2, 3].map(() => refresh(creds, creds.refresh_token)));
  const ok = results.filter((r) => r.status === 200);
  assert.equal(ok.length, 1, JSON.stringify(results));
  await settle();
  assert.ok(events.some((e) => e.event === 'grant.error' && e.reuse && e.client_id === 'test-public'));
  assert.equal((await refresh(creds, ok[0].body.refresh_token)).status, 400);
});

await check('registration without application_type: any loopback port', async () => {
  const reg = await (await fetch(`${issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: ['http://127.0.0.1:5555/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
    }),
  })).json();
  assert.equal(reg.application_type, 'native', JSON.stringify(reg));
  const creds = await login('--client-id', reg.client_id, '--redirect-uri', 'http://127.0.0.1:6666/callback');
  assert.ok(creds.refresh_token);
});

await check('device flow (RFC 8628): pending, approved by POST /test/device-approve, tokens for the resource', async () => {
  const reg = await (await fetch(`${issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      token_endpoint_auth_method: 'none',
    }),
  })).json();
  const form = (body) => ({ method: 'POST', body: new URLSearchParams(body) });
  const device = await (await fetch(`${issuer}/device/auth`, form({
    client_id: reg.client_id, scope: 'openid offline_access mcp', resource: RESOURCE,
  }))).json();
  assert.ok(device.user_code && device.verification_uri_complete, JSON.stringify(device));
  const poll = () => fetch(`${issuer}/token`, form({
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: device.device_code,
    client_id: reg.client_id,
    resource: RESOURCE,
  }));
  assert.equal((await (await poll()).json()).error, 'authorization_pending');
  const approved = await fetch(`${issuer}/test/device-approve`, form({ user_code: device.user_code }));
  assert.equal(approved.status, 200);
  const tokens = await (await poll()).json();
  assert.ok(tokens.access_token && tokens.refresh_token, JSON.stringify(tokens));
});

await check('the authorization request is an event (resource, PKCE method)', async () => {
  await login('--client-id', 'test-public');
  await settle();
  const auth = events.filter((e) => e.event === 'authorization').at(-1);
  assert.deepEqual(auth.resource, [RESOURCE]);
  assert.equal(auth.code_challenge_method, 'S256');
});

await check('exits when stdin closes', async () => {
  server.stdin.end();
  const [code] = await once(server, 'exit');
  assert.equal(code, 0);
});

console.log(`${passed} passed, 0 failed`);
