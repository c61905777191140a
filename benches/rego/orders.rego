# The bench's orders policy in Rego, for zt-authz's in-process engine:
# the same outcome as the native policy `match: { path: { prefix: /orders },
# methods: [GET] }, scopes: [orders:read], claims: { sub: [alice, bob] }`.
# zt-authz has verified the token (signature, issuer, audience, times,
# revocation) before this runs; input.token holds what it verified.
package zt.bench

default allow := false

allow if {
	input.attributes.request.http.method == "GET"
	startswith(path, "/orders")
	"orders:read" in input.token.scopes
	input.token.claims.sub in allowed_subjects
}

# Path rules look at the path without its query.
path := split(input.attributes.request.http.path, "?")[0]

allowed_subjects := {"alice", "bob"}
