// Token exchange with openid-client v6. The same lines reach Spotnana and the simulator: only
// SPOTNANA_BASE_URL differs. Spotnana publishes no discovery document, so its metadata is written out.
//
//   SPOTNANA_BASE_URL=http://127.0.0.1:8080 SPOTNANA_CLIENT_ID=demo-client SPOTNANA_CLIENT_SECRET=demo-secret \
//     node examples/exchange.mjs demo-token-ada
import { pathToFileURL } from 'node:url'

// --8<-- [start:exchange]
import * as client from 'openid-client'

const SPOTNANA_SANDBOX = 'https://api-ext-sboxmeta.partners.spotnana.com'

export function spotnanaConfig(baseUrl, clientId, clientSecret) {
  const server = {
    issuer: baseUrl, // Spotnana documents no issuer; openid-client checks it only on ID tokens, which this grant never returns
    token_endpoint: `${baseUrl}/v2/auth/oauth2-token`,
  }
  // Spotnana takes client_id and client_secret in the form body (client_secret_post), not HTTP Basic.
  const config = new client.Configuration(server, clientId, undefined, client.ClientSecretPost(clientSecret))
  if (new URL(baseUrl).protocol === 'http:') {
    client.allowInsecureRequests(config) // only for the simulator on a local http:// URL
  }
  return config
}

export async function exchangeUserToken(config, userToken) {
  return client.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    subject_token: userToken, // the partner's own access token for the signed-in user
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    scope: 'openid',
  })
}

// Spotnana answers errors as {"errorMessages": [{"errorCode", "message"}]}, not RFC 6749's {"error"}:
// openid-client then throws an error whose .cause is the untouched Response. The simulator's
// rfc6749 dialect (an extension) gives a ResponseBodyError with .error instead.
export async function failureCode(error) {
  if (error instanceof client.ResponseBodyError) return `${error.status} ${error.error}`
  if (error.cause instanceof Response) {
    const body = await error.cause.json().catch(() => ({}))
    return `${error.cause.status} ${body.errorMessages?.[0]?.errorCode ?? 'no errorCode'}`
  }
  throw error
}
// --8<-- [end:exchange]

async function main() {
  const config = spotnanaConfig(
    process.env.SPOTNANA_BASE_URL ?? SPOTNANA_SANDBOX,
    process.env.SPOTNANA_CLIENT_ID,
    process.env.SPOTNANA_CLIENT_SECRET,
  )
  let tokens
  try {
    tokens = await exchangeUserToken(config, process.argv[2] ?? process.env.PARTNER_USER_TOKEN)
  } catch (error) {
    console.error(`token exchange failed: ${await failureCode(error)}`)
    process.exitCode = 1
    return
  }
  // Never print the tokens themselves.
  console.log(JSON.stringify({
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    scope: tokens.scope,
    access_token_length: tokens.access_token.length,
    refresh_token_present: typeof tokens.refresh_token === 'string',
  }))
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main()
}
