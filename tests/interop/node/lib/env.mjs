// The simulator the tests talk to, from the environment that tests/interop/test_node_clients.py sets.
// A missing variable stops the run with its name: a suite with nothing to talk to must not pass.

function required(name) {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} is not set: run these tests through tests/interop/test_node_clients.py, ` +
      'or set SIM_URL, SIM_CLIENT_ID, SIM_CLIENT_SECRET, SIM_SUBJECT_TOKEN, SIM_SUBJECT_EMAIL and SIM_NO_PROFILE_TOKEN')
  }
  return value
}

export const sim = Object.freeze({
  // e.g. http://127.0.0.1:43123, a simulator started with the rfc6749 error dialect
  url: required('SIM_URL').replace(/\/+$/, ''),
  clientId: required('SIM_CLIENT_ID'),
  clientSecret: required('SIM_CLIENT_SECRET'),
  // a partner user token the user-detail API knows, and that user's email
  subjectToken: required('SIM_SUBJECT_TOKEN'),
  subjectEmail: required('SIM_SUBJECT_EMAIL'),
  // a partner user token whose email has no Spotnana profile
  noProfileToken: required('SIM_NO_PROFILE_TOKEN'),
})

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

/** The simulator's URL with its host replaced, e.g. 127.0.0.1 -> localhost. */
export function withHost(url, hostname) {
  const copy = new URL(url)
  copy.hostname = hostname
  return copy.href.replace(/\/+$/, '')
}
