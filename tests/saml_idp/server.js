// A real SAML 2.0 identity provider for Passgate's tests: samlify (an implementation
// independent of Passgate's) answers HTTP-POST AuthnRequests with signed Responses.
//
// Environment: PORT, ENTITY_ID (default http://127.0.0.1:PORT/metadata), KEY_FILE and
// CERT_FILE (the IdP's signing key and certificate, PEM), USERS (JSON object:
// login -> {nameID, email, username, groups}).
// Prints "ready <base URL>" on stdout once it listens.
//
// Endpoints:
//   POST /admin/sp      {metadata, wantMessageSigned}: the service provider to answer
//                       (Passgate's own SP metadata document)
//   POST /sso           SAMLRequest + RelayState (the HTTP-POST binding): a login page
//   POST /sso/login     the login page's form (user + the request): a page whose form
//                       posts SAMLResponse + RelayState to the SP's ACS URL
import fs from 'node:fs';
import http from 'node:http';
import samlify from 'samlify';
import * as validator from '@authenio/samlify-xmllint-wasm';

samlify.setSchemaValidator(validator);

const port = Number(process.env.PORT);
const base = `http://127.0.0.1:${port}`;
const entityID = process.env.ENTITY_ID || `${base}/metadata`;
const users = JSON.parse(process.env.USERS || '{}');
const POST = samlify.Constants.namespace.binding.post;

const idp = samlify.IdentityProvider({
  entityID,
  privateKey: fs.readFileSync(process.env.KEY_FILE),
  signingCert: fs.readFileSync(process.env.CERT_FILE),
  singleSignOnService: [{ Binding: POST, Location: `${base}/sso` }],
  nameIDFormat: ['urn:oasis:names:tc:SAML:2.0:nameid-format:persistent'],
  isAssertionEncrypted: false,
});
let sp = null;

const escape = (text) => String(text)
  .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function attributes(user) {
  const values = {
    email: [user.email],
    username: [user.username],
    groups: user.groups || [],
    groupsJoined: [(user.groups || []).join(',')],
  };
  const body = Object.entries(values).map(([name, list]) =>
    `<saml:Attribute Name="${name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">`
    + list.map((v) => `<saml:AttributeValue xsi:type="xs:string">${escape(v)}</saml:AttributeValue>`).join('')
    + '</saml:Attribute>').join('');
  return `<saml:AttributeStatement>${body}</saml:AttributeStatement>`;
}

function authnStatement(now, session) {
  return `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="${session}">`
    + '<saml:AuthnContext><saml:AuthnContextClassRef>'
    + 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'
    + '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>';
}

function page(title, action, fields, button) {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${k}" value="${escape(v)}">`).join('');
  return `<!doctype html><title>${title}</title><form method="post" action="${escape(action)}">`
    + `${inputs}${button}</form>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

async function handle(req, res) {
  const body = await readBody(req);
  if (req.method === 'POST' && req.url === '/admin/sp') {
    const { metadata, wantMessageSigned } = JSON.parse(body);
    sp = samlify.ServiceProvider({ metadata, wantMessageSigned: Boolean(wantMessageSigned) });
    res.writeHead(204).end();
    return;
  }
  const form = Object.fromEntries(new URLSearchParams(body));
  if (req.method === 'POST' && req.url === '/sso') {
    // Checks the AuthnRequest against the SAML schema; refuses a malformed one.
    await idp.parseLoginRequest(sp, 'post', { body: { SAMLRequest: form.SAMLRequest } });
    const fields = { SAMLRequest: form.SAMLRequest, RelayState: form.RelayState || '' };
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page('Sign in', '/sso/login', fields, '<input name="user"><button>Sign in</button>'));
    return;
  }
  if (req.method === 'POST' && req.url === '/sso/login') {
    const user = users[form.user];
    if (!user) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('unknown user');
      return;
    }
    const request = await idp.parseLoginRequest(sp, 'post', { body: { SAMLRequest: form.SAMLRequest } });
    const response = await idp.createLoginResponse(sp, request, 'post', user, (template) => {
      const now = new Date();
      const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
      const acs = sp.entityMeta.getAssertionConsumerService('post');
      const id = `_${crypto.randomUUID()}`;
      // replaceTagsByValue escapes values: the two XML fragments go in first, as they are.
      const xml = template
        .replace('{AuthnStatement}', authnStatement(now, id))
        .replace('{AttributeStatement}', attributes(user));
      const values = {
        ID: id,
        AssertionID: `_${crypto.randomUUID()}`,
        Destination: acs,
        Audience: sp.entityMeta.getEntityID(),
        SubjectRecipient: acs,
        Issuer: entityID,
        IssueInstant: now.toISOString(),
        StatusCode: samlify.Constants.StatusCode.Success,
        ConditionsNotBefore: now.toISOString(),
        ConditionsNotOnOrAfter: later,
        SubjectConfirmationDataNotOnOrAfter: later,
        NameIDFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
        NameID: user.nameID,
        InResponseTo: request.extract.request.id,
      };
      return { id, context: samlify.SamlLib.replaceTagsByValue(xml, values) };
    }, false, form.RelayState);
    const fields = { SAMLResponse: response.context, RelayState: form.RelayState || '' };
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page('Signed in', response.entityEndpoint, fields, '<button>Continue</button>'));
    return;
  }
  res.writeHead(404).end();
}

http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`error: ${error.message || error}`);
  });
}).listen(port, '127.0.0.1', () => console.log(`ready ${base}`));
