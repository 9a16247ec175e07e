// An MCP server (official TypeScript SDK, Streamable HTTP) protected by OAuth as the
// MCP authorization specification (2025-11-25) asks, for the oauth-store tests.
//
// Prints `READY {...}` once listening, then one JSON line per event on stdout. See
// README.md.
import { randomUUID } from 'node:crypto';
import { fstatSync } from 'node:fs';

import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';

const ISSUER = process.env.ISSUER;
const MCP_PATH = process.env.MCP_PATH ?? '/mcp';
const REQUIRED_SCOPE = process.env.REQUIRED_SCOPE ?? 'mcp';
// Which RFC 9728 well-known URIs serve the metadata: `both`, `path` (the path-suffixed
// one only), `root` (only the root one). Lets login clients be tested on each
// discovery step of the spec.
const PRM = process.env.PRM ?? 'both';
// `0`: the 401 carries no `resource_metadata` (a client must try the well-known URIs).
const RESOURCE_METADATA_IN_401 = process.env.RESOURCE_METADATA_IN_401 !== '0';

if (!ISSUER) {
  process.stderr.write('ISSUER (the oidc peer issuer URL) is required\n');
  process.exit(2);
}
if (!['both', 'path', 'root'].includes(PRM)) {
  process.stderr.write('PRM must be both, path or root\n');
  process.exit(2);
}

// stdout carries only the READY line and event lines.
console.log = console.info = console.error;

const stats = {
  authorized_requests: 0, // requests to the MCP endpoint with a valid bearer token
  unauthorized: 0, // 401 responses (no, invalid, expired or foreign token)
  forbidden: 0, // 403 responses (insufficient scope, a session of another subject)
  tool_calls: 0, // successful tools/call of `echo`
  introspections: 0, // introspection requests sent to the authorization server
  sessions: 0, // MCP sessions initialized
  metadata_requests: 0, // protected resource metadata documents served
};

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function fetchJson(url, init) {
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${init?.method ?? 'GET'} ${url}: HTTP ${response.status}: ${text.slice(0, 200)}`);
  }
  return JSON.parse(text);
}

// The authorization server: RFC 8414 metadata, then this resource server registers
// itself (RFC 7591) as a confidential client, which is what oidc-provider asks of a
// caller of its introspection endpoint (RFC 7662 section 2.1).
let asMetadata;
let registration;
try {
  asMetadata = await fetchJson(new URL('/.well-known/oauth-authorization-server', ISSUER));
  if (!asMetadata.introspection_endpoint || !asMetadata.registration_endpoint) {
    throw new Error('the authorization server offers no introspection or registration endpoint');
  }
  registration = await fetchJson(asMetadata.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'oauth-store MCP server test peer (resource server)',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }),
  });
} catch (err) {
  process.stderr.write(`cannot use the authorization server at ${ISSUER}: ${err.cause?.message ?? err.message}\n`);
  process.exit(1);
}
// RFC 6749 section 2.3.1: form-urlencode both parts before Basic encoding.
const introspectionAuth = `Basic ${Buffer.from(
  `${encodeURIComponent(registration.client_id)}:${encodeURIComponent(registration.client_secret)}`,
).toString('base64')}`;

const app = createMcpExpressApp({ host: '127.0.0.1' });
const server = await new Promise((resolve) => {
  const s = app.listen(0, '127.0.0.1', () => resolve(s));
});
const { port } = server.address();
const origin = `http://127.0.0.1:${port}`;
const resource = `${origin}${MCP_PATH}`;
const pathMetadataUrl = `${origin}/.well-known/oauth-protected-resource${MCP_PATH}`;
const rootMetadataUrl = `${origin}/.well-known/oauth-protected-resource`;
const resourceMetadataUrl = PRM === 'root' ? rootMetadataUrl : pathMetadataUrl;

// RFC 9728 section 2. The root document names the same resource: the MCP server is
// the only resource of this origin.
const protectedResourceMetadata = {
  resource,
  authorization_servers: [asMetadata.issuer],
  scopes_supported: [REQUIRED_SCOPE],
  bearer_methods_supported: ['header'],
  resource_name: 'oauth-store MCP server test peer',
};

function serveMetadata(req, res) {
  stats.metadata_requests += 1;
  res.status(200).json(protectedResourceMetadata);
}
if (PRM !== 'root') app.get(`/.well-known/oauth-protected-resource${MCP_PATH}`, serveMetadata);
if (PRM !== 'path') app.get('/.well-known/oauth-protected-resource', serveMetadata);

// Every request asks the authorization server (no cache), so a token revoked there is
// refused at once.
const verifier = {
  async verifyAccessToken(token) {
    stats.introspections += 1;
    let answer;
    try {
      answer = await fetchJson(asMetadata.introspection_endpoint, {
        method: 'POST',
        headers: {
          authorization: introspectionAuth,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      });
    } catch (err) {
      throw new ServerError(`introspection failed: ${err.message}`);
    }
    if (!answer.active) throw new InvalidTokenError('The access token is not active');
    if (answer.token_type && answer.token_type !== 'Bearer') {
      throw new InvalidTokenError('Not a bearer access token');
    }
    const audience = [answer.aud ?? []].flat();
    return {
      token,
      clientId: answer.client_id,
      scopes: (answer.scope ?? '').split(' ').filter(Boolean),
      expiresAt: answer.exp,
      // RFC 8707: the token must have been issued for this resource (checked by
      // requireBearerAuth against `expectedResource`).
      resource: audience.includes(resource) ? new URL(resource) : undefined,
      extra: { sub: answer.sub, aud: audience },
    };
  },
};

const bearer = requireBearerAuth({
  verifier,
  requiredScopes: [REQUIRED_SCOPE],
  resourceMetadataUrl: RESOURCE_METADATA_IN_401 ? resourceMetadataUrl : undefined,
  expectedResource: new URL(resource),
});

// Counts the bearer middleware's answers.
function countAuth(req, res, next) {
  res.on('finish', () => {
    if (res.statusCode === 401) {
      stats.unauthorized += 1;
      emit({ event: 'unauthorized', method: req.method, www_authenticate: res.get('www-authenticate') });
    } else if (res.statusCode === 403 && !req.auth) {
      stats.forbidden += 1;
      emit({ event: 'forbidden', method: req.method, www_authenticate: res.get('www-authenticate') });
    }
  });
  next();
}

function newMcpServer() {
  const mcp = new McpServer({ name: 'oauth-store-test-peer', version: '0.0.0' });
  mcp.registerTool(
    'echo',
    {
      description: 'Returns the text it was given, and who called it (subject, client, scopes).',
      inputSchema: { text: z.string() },
      outputSchema: {
        text: z.string(),
        subject: z.string().optional(),
        client_id: z.string().optional(),
        scopes: z.array(z.string()),
      },
    },
    async ({ text }, extra) => {
      stats.tool_calls += 1;
      const auth = extra.authInfo;
      const result = {
        text,
        subject: auth?.extra?.sub,
        client_id: auth?.clientId,
        scopes: auth?.scopes ?? [],
      };
      emit({ event: 'tool_call', tool: 'echo', subject: result.subject, client_id: result.client_id });
      return { content: [{ type: 'text', text }], structuredContent: result };
    },
  );
  return mcp;
}

// Stateful Streamable HTTP sessions, each bound to the subject that initialized it
// (the spec: a session is never authentication).
const sessions = new Map(); // session id -> { transport, subject }

function jsonRpcError(res, status, message) {
  res.status(status).json({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
}

async function handleMcp(req, res) {
  stats.authorized_requests += 1;
  const subject = req.auth.extra?.sub;
  const sessionId = req.headers['mcp-session-id'];
  if (sessionId) {
    const session = sessions.get(sessionId);
    if (!session) return jsonRpcError(res, 404, 'Session not found');
    if (session.subject !== subject) {
      stats.forbidden += 1;
      return jsonRpcError(res, 403, 'Session belongs to another subject');
    }
    return session.transport.handleRequest(req, res, req.body);
  }
  if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
    return jsonRpcError(res, 400, 'Bad Request: no session ID, and not an initialize request');
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    // Plain JSON answers: simple for tests, curl and every client of the spec.
    enableJsonResponse: true,
    onsessioninitialized: (id) => {
      stats.sessions += 1;
      sessions.set(id, { transport, subject });
    },
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  await newMcpServer().connect(transport);
  return transport.handleRequest(req, res, req.body);
}

app.all(MCP_PATH, countAuth, bearer, async (req, res) => {
  try {
    await handleMcp(req, res);
  } catch (err) {
    emit({ event: 'server_error', path: req.path, message: String(err?.message ?? err) });
    if (!res.headersSent) jsonRpcError(res, 500, 'Internal server error');
  }
});

app.get('/test/stats', (req, res) => res.json(stats));

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  for (const { transport } of sessions.values()) transport.close().catch(() => {});
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Exit when the parent closes our stdin (e.g. a crashed test). Only when stdin is a
// pipe or socket: a /dev/null stdin would read EOF at once.
const stdinStat = fstatSync(0, { throwIfNoEntry: false });
if (stdinStat && (stdinStat.isFIFO() || stdinStat.isSocket())) {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

process.stdout.write(`READY ${JSON.stringify({
  url: resource,
  port,
  resource,
  resource_metadata: resourceMetadataUrl,
  issuer: asMetadata.issuer,
})}\n`);
