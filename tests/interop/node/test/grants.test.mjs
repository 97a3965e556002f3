// The two grants Spotnana documents, through openid-client's own request functions.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import * as client from 'openid-client'

import { sim, TOKEN_EXCHANGE, ACCESS_TOKEN_TYPE } from '../lib/env.mjs'

let config

before(async () => {
  config = await client.discovery(new URL(sim.url), sim.clientId, undefined, client.ClientSecretPost(sim.clientSecret), {
    execute: [client.allowInsecureRequests],
  })
})

describe('grants', () => {
  it('token exchange through genericGrantRequest answers Spotnana\'s documented fields', async () => {
    const tokens = await client.genericGrantRequest(config, TOKEN_EXCHANGE, {
      subject_token: sim.subjectToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
      scope: 'openid',
    })
    assert.equal(typeof tokens.access_token, 'string')
    assert.equal(typeof tokens.refresh_token, 'string')
    assert.equal(tokens.token_type, 'bearer') // openid-client lower-cases it; Spotnana sends "Bearer"
    assert.equal(tokens.expires_in, 3600)
    assert.equal(tokens.scope, 'openid')
    assert.ok(tokens.expiresIn() > 0 && tokens.expiresIn() <= 3600)
  })

  it('client_credentials through clientCredentialsGrant: an access token and no refresh token', async () => {
    const tokens = await client.clientCredentialsGrant(config)
    assert.equal(typeof tokens.access_token, 'string')
    assert.equal(tokens.refresh_token, undefined)
    assert.equal(tokens.token_type, 'bearer')
    assert.equal(tokens.expires_in, 3600)
  })

  it('the static configuration (no discovery, as against Spotnana itself) reaches the same endpoint', async () => {
    const server = { issuer: sim.url, token_endpoint: `${sim.url}/v2/auth/oauth2-token` }
    const staticConfig = new client.Configuration(server, sim.clientId, undefined, client.ClientSecretPost(sim.clientSecret))
    client.allowInsecureRequests(staticConfig)
    const tokens = await client.genericGrantRequest(staticConfig, TOKEN_EXCHANGE, {
      subject_token: sim.subjectToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
      scope: 'openid',
    })
    assert.equal(typeof tokens.access_token, 'string')
  })
})
