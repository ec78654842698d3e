// DPoP (RFC 9449) end to end with oauth4webapi, a third-party client, against a running
// authserver: tests/test_dpop_node.py runs it and checks what it prints (one JSON object).
//
//   node dpop.mjs   reading {"mode": "flow"|"nonce", "issuer", "client_id", "username",
//                   "password"} (a public client) as JSON on standard input.
//
// flow:  discovery, a password grant with a DPoP key, a protected call, a refresh with the
//        same key, a refresh with another key (refused), and the bound token sent as Bearer.
// nonce: the same grant at a server that requires nonces: the first answer is
//        use_dpop_nonce, the DPoP handle keeps the DPoP-Nonce and the retry succeeds.
import { readFileSync } from 'node:fs'
import * as oauth from 'oauth4webapi'

const input = JSON.parse(readFileSync(0, 'utf8'))
const mode = input.mode ?? 'flow'
const issuer = new URL(input.issuer)
const client = { client_id: input.client_id, token_endpoint_auth_method: 'none' }
const clientAuth = oauth.None()
const insecure = { [oauth.allowInsecureRequests]: true } // the test server speaks plain http

async function discover () {
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  return oauth.processDiscoveryResponse(issuer, response)
}

async function passwordGrant (as, DPoP) {
  const parameters = { username: input.username, password: input.password }
  const response = await oauth.genericTokenEndpointRequest(
    as, client, clientAuth, 'password', parameters, { DPoP, ...insecure })
  return oauth.processGenericTokenEndpointResponse(as, client, response)
}

async function refresh (as, refreshToken, DPoP) {
  const response = await oauth.refreshTokenGrantRequest(
    as, client, clientAuth, refreshToken, { DPoP, ...insecure })
  return oauth.processRefreshTokenResponse(as, client, response)
}

async function refused (promise) {
  try {
    await promise
    return null
  } catch (err) {
    return { error: err.error ?? err.code ?? String(err), status: err.status ?? null }
  }
}

async function call (accessToken, DPoP, scheme = 'DPoP') {
  const url = new URL('/api/me', issuer)
  if (scheme === 'Bearer') {
    const response = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } })
    return { status: response.status, challenge: response.headers.get('www-authenticate') }
  }
  const response = await oauth.protectedResourceRequest(
    accessToken, 'GET', url, undefined, undefined, { DPoP, ...insecure })
  return { status: response.status, body: await response.json() }
}

async function flow () {
  const as = await discover()
  const key = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, key)
  const jkt = await DPoP.calculateThumbprint()
  const login = await passwordGrant(as, DPoP)
  const me = await call(login.access_token, DPoP)
  const renewed = await refresh(as, login.refresh_token, DPoP)
  const meAgain = await call(renewed.access_token, DPoP)
  const otherKey = await oauth.generateKeyPair('ES256')
  const otherRefresh = await refused(refresh(as, renewed.refresh_token, oauth.DPoP(client, otherKey)))
  const asBearer = await call(renewed.access_token, null, 'Bearer')
  const sameKeyAfter = await refresh(as, renewed.refresh_token, DPoP)
  return {
    algs: as.dpop_signing_alg_values_supported,
    jkt,
    login: { token_type: login.token_type, has_refresh: Boolean(login.refresh_token) },
    me,
    refresh: { token_type: renewed.token_type },
    meAgain: { status: meAgain.status },
    otherRefresh,
    asBearer,
    sameKeyAfter: { token_type: sameKeyAfter.token_type },
    accessToken: renewed.access_token
  }
}

async function nonce () {
  const as = await discover()
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
  let first = null
  let login
  try {
    login = await passwordGrant(as, DPoP)
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    first = { error: err.error, nonceError: true }
    login = await passwordGrant(as, DPoP) // the handle now holds the server's nonce
  }
  const me = await call(login.access_token, DPoP)
  return { first, login: { token_type: login.token_type }, me: { status: me.status } }
}

const result = mode === 'nonce' ? await nonce() : await flow()
process.stdout.write(JSON.stringify(result) + '\n')
