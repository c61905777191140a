# The zt-authz bench policy of benches/run.sh, in Rego, for the E4 set-up:
# a bearer token from issuer https://bench.example for audience `api`,
# signed with RS256, ES256 or EdDSA by a key of the bench JWKS, unexpired,
# with `orders:read` among its scopes, on GET /orders…; everything else is
# denied.
#
# data.bench.jwks is the JWKS document as a string (benches/run.sh writes
# it from the same jwks.json zt-authz reads): io.jwt.decode_verify takes a
# key set as a string, and the parsed keys are cached by that string, so
# keeping it a string costs no per-request serialisation.
package zt.bench

default allow := false

allow if {
	request.method == "GET"
	startswith(request_path, "/orders")
	is_number(claims.exp)
	"orders:read" in scopes
}

request := input.attributes.request.http

# zt-authz matches path rules on the path before `?`.
request_path := split(request.path, "?")[0]

# Exactly one `Authorization: Bearer <token>`, scheme case-insensitive, as
# zt-authz reads it (Envoy joins repeated headers with a comma, which no
# token contains).
bearer := token if {
	parts := split(request.headers.authorization, " ")
	count(parts) == 2
	lower(parts[0]) == "bearer"
	token := parts[1]
	token != ""
	not contains(token, ",")
}

# decode_verify checks the signature against the key named by `kid` (or
# any key of the set), then iss and aud, and exp and nbf against `time`.
# It does not insist on exp (zt-authz does: checked in allow) nor
# restrict the algorithm (zt-authz allows those it is configured with).
claims := payload if {
	[valid, header, payload] := io.jwt.decode_verify(bearer, {
		"cert": data.bench.jwks,
		"iss": "https://bench.example",
		"aud": "api",
		"time": time.now_ns(),
	})
	valid
	header.alg in {"RS256", "ES256", "EdDSA"}
}

# RFC 9068 `scope` is space-separated; zt-authz also reads `scp` when
# `scope` is absent.
scopes := split(claims.scope, " ") if is_string(claims.scope)

scopes := claims.scp if {
	not claims.scope
	is_array(claims.scp)
}

scopes := [claims.scp] if {
	not claims.scope
	is_string(claims.scp)
}
