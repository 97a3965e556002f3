// jose verifies the simulator's access tokens through its JWKS, with the issuer that discovery gave.
// (Extension: Spotnana documents neither an issuer nor a JWKS for its tokens.)
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as client from 'openid-client'
import * as jose from 'jose'

import { sim, withHost, TOKEN_EXCHANGE, ACCESS_TOKEN_TYPE } from '../lib/env.mjs'

async function discoverAndExchange(baseUrl) {
  const config = await client.discovery(new URL(baseUrl), sim.clientId, undefined, client.ClientSecretPost(sim.clientSecret), {
    execute: [client.allowInsecureRequests],
  })
  const tokens = await client.genericGrantRequest(config, TOKEN_EXCHANGE, {
    subject_token: sim.subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    scope: 'openid',
  })
  return { metadata: config.serverMetadata(), tokens }
}

describe('verifying access tokens with jose', () => {
  it('createRemoteJWKSet + jwtVerify with the discovered issuer accept the token and show the user', async () => {
    const { metadata, tokens } = await discoverAndExchange(sim.url)
    const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri))
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: metadata.issuer })
    assert.equal(payload.iss, metadata.issuer)
    assert.equal(payload.email, sim.subjectEmail)
    assert.equal(payload.client_id, sim.clientId)
    assert.equal(payload.exp - payload.iat, 3600)
    assert.equal(typeof protectedHeader.kid, 'string')
    assert.equal(protectedHeader.alg, 'RS256')
  })

  it('the checks bite: another issuer and a changed signature are both refused', async () => {
    const { metadata, tokens } = await discoverAndExchange(sim.url)
    const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri))
    await assert.rejects(
      jose.jwtVerify(tokens.access_token, jwks, { issuer: 'https://someone-else.example' }),
      jose.errors.JWTClaimValidationFailed,
    )
    const [header, payload, signature] = tokens.access_token.split('.')
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1)
    await assert.rejects(
      jose.jwtVerify(`${header}.${payload}.${flipped}`, jwks, { issuer: metadata.issuer }),
      jose.errors.JWSSignatureVerificationFailed,
    )
  })

  it('through another name (localhost): the token\'s iss is the issuer discovery gave under that name', async (t) => {
    const viaLocalhost = withHost(sim.url, 'localhost')
    try {
      await fetch(`${viaLocalhost}/_sim/health`)
    } catch {
      t.skip(`${viaLocalhost} is not reachable on this machine (localhost does not lead to 127.0.0.1)`)
      return
    }
    const { metadata, tokens } = await discoverAndExchange(viaLocalhost)
    assert.equal(metadata.issuer, viaLocalhost)
    const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri))
    const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: metadata.issuer })
    assert.equal(payload.iss, viaLocalhost)
  })
})
