// Against the simulator only: discovery and the JWKS are simulator extensions (Spotnana publishes
// neither a discovery document nor keys for its tokens). Discover, exchange, and verify the
// access token with jose, trusting the issuer that discovery gave.
//
//   SIM_URL=http://127.0.0.1:8080 SPOTNANA_CLIENT_ID=demo-client SPOTNANA_CLIENT_SECRET=demo-secret \
//     node examples/discover-and-verify.mjs demo-token-ada
import { pathToFileURL } from 'node:url'

// --8<-- [start:verify]
import * as client from 'openid-client'
import * as jose from 'jose'

export async function exchangeAndVerify(simUrl, clientId, clientSecret, userToken) {
  const config = await client.discovery(new URL(simUrl), clientId, undefined, client.ClientSecretPost(clientSecret), {
    execute: [client.allowInsecureRequests], // the simulator on a local http:// URL
  })
  const tokens = await client.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    subject_token: userToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    scope: 'openid',
  })
  const { issuer, jwks_uri } = config.serverMetadata()
  const jwks = jose.createRemoteJWKSet(new URL(jwks_uri))
  const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer })
  return payload // { iss, sub, email, client_id, scope, iat, exp, jti }
}
// --8<-- [end:verify]

async function main() {
  const payload = await exchangeAndVerify(
    process.env.SIM_URL ?? 'http://127.0.0.1:8080',
    process.env.SPOTNANA_CLIENT_ID,
    process.env.SPOTNANA_CLIENT_SECRET,
    process.argv[2] ?? process.env.PARTNER_USER_TOKEN,
  )
  console.log(JSON.stringify({ iss: payload.iss, email: payload.email, client_id: payload.client_id }))
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main()
}
