// Discovery (an extension: Spotnana publishes no discovery document) as openid-client v6 performs it.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as client from 'openid-client'

import { sim, withHost } from '../lib/env.mjs'

function discover(baseUrl, options = {}) {
  return client.discovery(new URL(baseUrl), sim.clientId, sim.clientSecret, client.ClientSecretPost(sim.clientSecret), {
    execute: [client.allowInsecureRequests], // http:// on loopback
    ...options,
  })
}

/** Whether baseUrl answers at all (e.g. "localhost" may resolve to ::1 only, where nothing listens). */
async function reachable(baseUrl) {
  try {
    await fetch(`${baseUrl}/_sim/health`)
    return true
  } catch {
    return false
  }
}

function assertSelfConsistent(metadata, issuer) {
  assert.equal(metadata.issuer, issuer, 'issuer is the URL the document was fetched from')
  assert.equal(metadata.token_endpoint, `${issuer}/v2/auth/oauth2-token`)
  assert.equal(metadata.jwks_uri, `${issuer}/.well-known/jwks.json`)
  for (const [name, value] of Object.entries(metadata)) {
    if (typeof value === 'string' && /^https?:\/\//.test(value)) {
      assert.ok(value.startsWith(issuer), `${name} (${value}) starts with the issuer ${issuer}`)
    }
  }
}

describe('discovery', () => {
  it('OpenID Connect discovery (/.well-known/openid-configuration) is accepted by openid-client', async () => {
    const config = await discover(sim.url)
    const metadata = config.serverMetadata()
    assertSelfConsistent(metadata, sim.url)
    assert.deepEqual(metadata.token_endpoint_auth_methods_supported, ['client_secret_post'])
    assert.ok(metadata.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:token-exchange'))
    assert.ok(metadata.grant_types_supported.includes('client_credentials'))
  })

  it('RFC 8414 discovery (/.well-known/oauth-authorization-server) is accepted by openid-client', async () => {
    const config = await discover(sim.url, { algorithm: 'oauth2' })
    assertSelfConsistent(config.serverMetadata(), sim.url)
  })

  it('every URL the document advertises answers', async () => {
    const metadata = (await discover(sim.url)).serverMetadata()
    const jwks = await fetch(metadata.jwks_uri)
    assert.equal(jwks.status, 200)
    assert.ok(Array.isArray((await jwks.json()).keys))
    // The token endpoint exists: a GET is refused as a method, not as an unknown path.
    const token = await fetch(metadata.token_endpoint)
    assert.equal(token.status, 405)
  })

  it('fetched through another name (localhost), the document uses that name throughout', async (t) => {
    const viaLocalhost = withHost(sim.url, 'localhost')
    if (!(await reachable(viaLocalhost))) {
      t.skip(`${viaLocalhost} is not reachable on this machine (localhost does not lead to 127.0.0.1)`)
      return
    }
    const config = await discover(viaLocalhost)
    assertSelfConsistent(config.serverMetadata(), viaLocalhost)
  })
})
