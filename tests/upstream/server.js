// A real OpenID Provider for Passgate's tests: panva/node-oidc-provider with its built-in
// development login and consent pages, in-memory accounts, and a small admin port on which
// a test changes a person's groups or disables them.
//
// Environment: PORT, ADMIN_PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, ACCOUNTS (JSON
// object: id -> {email, email_verified, name, preferred_username, groups}).
// Prints "ready <issuer>" on stdout once it listens.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const adminPort = Number(process.env.ADMIN_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
const disabled = new Set();

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  cookies: { keys: ['passgate-test-upstream'] },
  pkce: { required: () => false },
  // Scope claims in the ID token too (many enterprise IdPs do); getUserInfo covers the rest.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  // Refresh tokens whenever offline_access was granted, as an enterprise IdP would.
  issueRefreshToken: async (ctx, client, code) =>
    client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  async findAccount(ctx, id) {
    if (!(id in accounts) || disabled.has(id)) return undefined; // refresh then fails
    return {
      accountId: id,
      async claims() { return { sub: id, ...accounts[id] }; },
    };
  },
});
provider.proxy = false;

provider.listen(port, '127.0.0.1', () => {
  const admin = http.createServer((req, res) => {
    const match = req.url.match(/^\/accounts\/([^/]+)$/);
    if (req.method !== 'POST' || !match) { res.writeHead(404).end(); return; }
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const id = decodeURIComponent(match[1]);
      const change = JSON.parse(body || '{}');
      if (change.disabled) disabled.add(id); else disabled.delete(id);
      if (change.groups) accounts[id] = { ...accounts[id], groups: change.groups };
      res.writeHead(204).end();
    });
  });
  admin.listen(adminPort, '127.0.0.1', () => process.stdout.write(`ready ${issuer}\n`));
});
