"""Protocol constants, each defined once: the values Spotnana documents and the RFC URNs."""

TOKEN_ENDPOINT_PATH = "/v2/auth/oauth2-token"

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 §2.1
CLIENT_CREDENTIALS_GRANT = "client_credentials"  # RFC 6749 §4.4
SUPPORTED_GRANTS = (TOKEN_EXCHANGE_GRANT, CLIENT_CREDENTIALS_GRANT)  # the two Spotnana documents (S6)

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # RFC 8693 §3
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # RFC 8693 §3
OPENID_SCOPE = "openid"

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# Token answers must not be cached (RFC 6749 §5.1).
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
