# Tenant isolation by path and claim: /tenants/<tenant>/... only for callers
# whose verified `tenant` claim names that tenant; writes only in business
# hours (UTC). zt-authz has verified the token before this runs.
package zt.authz

tenant := input.parsed_path[1]

default result := {"allowed": false}

result := {"allowed": true, "headers": {"x-tenant": tenant}} if {
	input.token.claims.tenant == tenant
	allowed_method
}

allowed_method if input.attributes.request.http.method in {"GET", "HEAD"}

allowed_method if {
	input.attributes.request.http.method in {"POST", "PUT", "DELETE"}
	[hour, _, _] := time.clock([time.now_ns(), "UTC"])
	hour >= 8
	hour < 18
}
