// The client_credentials grant (RFC 6749 §4.4) driven by oauth4webapi, a third-party
// JavaScript client: discovery (RFC 8414), the token request and its response checks, the
// access token validated as RFC 9068 against the published JWKS, a protected call to
// /api/me, and the errors for a wrong secret and an undeclared scope.
//
// Input (stdin, JSON): {issuer, client_id, client_secret, auth, scope, audience}
//   auth: "client_secret_basic" or "client_secret_post"
// Output (stdout, JSON): what each step saw; tests/test_client_credentials_e2e.py asserts.
import * as oauth from 'oauth4webapi'

const input = JSON.parse(await new Promise((resolve) => {
  let text = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => { text += chunk })
  process.stdin.on('end', () => resolve(text))
}))

// Plain http on loopback in the tests: oauth4webapi refuses it unless told.
const insecure = { [oauth.allowInsecureRequests]: true }
const issuer = new URL(input.issuer)
const as = await oauth
  .discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  .then((response) => oauth.processDiscoveryResponse(issuer, response))
const client = { client_id: input.client_id }

function authentication (secret) {
  return input.auth === 'client_secret_post'
    ? oauth.ClientSecretPost(secret)
    : oauth.ClientSecretBasic(secret)
}

async function grant (secret, scope) {
  const parameters = scope ? { scope } : {}
  const response = await oauth.clientCredentialsGrantRequest(
    as, client, authentication(secret), parameters, insecure)
  return oauth.processClientCredentialsResponse(as, client, response)
}

// What oauth4webapi reports for a refused request: an OAuth error body, or a challenge.
function refusal (error) {
  return {
    name: error.constructor.name,
    error: error.error ?? null,
    status: error.status ?? error.response?.status ?? null,
    schemes: Array.isArray(error.cause) ? error.cause.map((c) => c.scheme) : [],
  }
}

async function refused (secret, scope) {
  try {
    await grant(secret, scope)
    return { name: null }
  } catch (error) {
    return refusal(error)
  }
}

const token = await grant(input.client_secret, input.scope)
const request = new Request(new URL('/api/me', issuer), {
  headers: { authorization: `Bearer ${token.access_token}` },
})
const claims = await oauth.validateJwtAccessToken(as, request, input.audience, insecure)
const me = await oauth.protectedResourceRequest(
  token.access_token, 'GET', new URL('/api/me', issuer), undefined, undefined, insecure)

console.log(JSON.stringify({
  grant_types_supported: as.grant_types_supported,
  token: { ...token, access_token: undefined, has_access_token: !!token.access_token },
  claims,
  me: { status: me.status, body: await me.json() },
  wrong_secret: await refused(`${input.client_secret}x`, input.scope),
  undeclared_scope: await refused(input.client_secret, 'reports:read'),
}))
