// rfc6749 dialect: every failure reaches the caller as openid-client's ResponseBodyError with its
// RFC 6749 `error` code (a WWW-Authenticate challenge instead would hide the code).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as client from 'openid-client'

import { sim, TOKEN_EXCHANGE, ACCESS_TOKEN_TYPE } from '../lib/env.mjs'

function configFor({ clientId = sim.clientId, clientSecret = sim.clientSecret, auth = client.ClientSecretPost } = {}) {
  const server = { issuer: sim.url, token_endpoint: `${sim.url}/v2/auth/oauth2-token` }
  const config = new client.Configuration(server, clientId, undefined, auth(clientSecret))
  client.allowInsecureRequests(config)
  return config
}

function exchange(config, overrides = {}) {
  return client.genericGrantRequest(config, TOKEN_EXCHANGE, {
    subject_token: sim.subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    scope: 'openid',
    ...overrides,
  })
}

/** Awaits a rejection and returns it as a ResponseBodyError, or fails saying what came instead. */
async function responseBodyError(promise) {
  let caught
  try {
    await promise
  } catch (error) {
    caught = error
  }
  assert.ok(caught, 'the request was expected to fail')
  if (!(caught instanceof client.ResponseBodyError)) {
    const detail = caught instanceof client.WWWAuthenticateChallengeError
      ? `a WWWAuthenticateChallengeError (status ${caught.status}, challenges ${JSON.stringify(caught.cause)}), which carries no error code`
      : `${caught.name}: ${caught.message} (code ${caught.code})`
    assert.fail(`expected a ResponseBodyError with an RFC 6749 error code, got ${detail}`)
  }
  return caught
}

describe('errors (rfc6749 dialect)', () => {
  it('a wrong client secret: invalid_client, status 400, no challenge', async () => {
    const error = await responseBodyError(exchange(configFor({ clientSecret: `${sim.clientSecret}-wrong` })))
    assert.equal(error.error, 'invalid_client')
    assert.equal(error.status, 400)
    assert.equal(error.response.headers.get('www-authenticate'), null)
  })

  it('an unknown client id: invalid_client', async () => {
    const error = await responseBodyError(exchange(configFor({ clientId: 'nobody-registered-this' })))
    assert.equal(error.error, 'invalid_client')
  })

  it('HTTP Basic only (client_secret_basic): told that Spotnana takes the credentials in the form body', async () => {
    const error = await responseBodyError(exchange(configFor({ auth: client.ClientSecretBasic })))
    assert.ok([400, 403].includes(error.status), `status ${error.status}`)
    assert.match(error.error_description ?? '', /client_secret_post/)
    assert.match(error.error_description ?? '', /body/)
  })

  it('a scope other than openid: invalid_scope', async () => {
    const error = await responseBodyError(exchange(configFor(), { scope: 'email' }))
    assert.equal(error.error, 'invalid_scope')
    assert.equal(error.status, 400)
  })

  it('a grant Spotnana does not support: unsupported_grant_type', async () => {
    const error = await responseBodyError(client.genericGrantRequest(configFor(), 'urn:ietf:params:oauth:grant-type:jwt-bearer', {
      assertion: 'not-a-jwt',
    }))
    assert.equal(error.error, 'unsupported_grant_type')
  })

  it('a missing subject_token: invalid_request naming the field', async () => {
    const error = await responseBodyError(client.genericGrantRequest(configFor(), TOKEN_EXCHANGE, {
      subject_token_type: ACCESS_TOKEN_TYPE,
      scope: 'openid',
    }))
    assert.equal(error.error, 'invalid_request')
    assert.match(error.error_description ?? '', /subject_token/)
  })

  it('a subject_token_type other than access_token (e.g. Spring\'s ...:jwt): invalid_request naming the field', async () => {
    const error = await responseBodyError(exchange(configFor(), { subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' }))
    assert.equal(error.error, 'invalid_request')
    assert.match(error.error_description ?? '', /subject_token_type/)
  })

  it('a user with no Spotnana profile: invalid_grant', async () => {
    const error = await responseBodyError(exchange(configFor(), { subject_token: sim.noProfileToken }))
    assert.equal(error.error, 'invalid_grant')
  })
})
