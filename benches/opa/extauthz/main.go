// Command opa-extauthz answers Envoy's ext_authz gRPC API (v3) with a Rego
// decision from the OPA engine, for the E4 set-up of benches/run.sh.
//
// It stands in for OPA-Envoy, whose module the Go module proxy reachable
// from this project's machines does not serve. It keeps the parts of
// OPA-Envoy that cost CPU on every Check, so the comparison with zt-authz
// stays fair:
//
//   - grpc-go serves envoy.service.auth.v3.Authorization (go-control-plane
//     types), no reflection, no interceptors, no metrics;
//   - the whole CheckRequest becomes the policy input, walked field by field
//     through protobuf reflection under the JSON field names, plus
//     parsed_path, parsed_query and version, the input layout OPA-Envoy
//     documents, so policies written for it read the same fields here;
//   - one prepared query on an in-memory store, evaluated per Check with
//     the inter-query builtin value cache, which holds the parsed JWKS and,
//     when -caching enables it, verified tokens (io_jwt);
//   - a true result allows (OK, empty OkHttpResponse); anything else,
//     including an evaluation error, denies with 403 (PERMISSION_DENIED).
//
// No decision log, tracing, explanation or metrics are collected: the
// production settings of OPA-Envoy for a latency-sensitive path.
//
//	opa-extauthz -addr 127.0.0.1:19203 -policy policy.rego -data data.json \
//	    -query data.zt.bench.allow [-caching caching.json]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
	"github.com/open-policy-agent/opa/v1/util"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

type authorizer struct {
	authv3.UnimplementedAuthorizationServer
	query  rego.PreparedEvalQuery
	values cache.InterQueryValueCache
}

// version tells a policy which request encoding it is reading.
var version = map[string]any{"encoding": "protojson", "ext_authz": "v3"}

func main() {
	addr := flag.String("addr", "127.0.0.1:9191", "gRPC listen address")
	policyFile := flag.String("policy", "", "Rego module")
	dataFile := flag.String("data", "", "JSON document loaded as data (optional)")
	query := flag.String("query", "data.envoy.authz.allow", "the decision")
	cachingFile := flag.String("caching", "", "OPA `caching` configuration as JSON (optional)")
	flag.Parse()
	if *policyFile == "" {
		log.Fatal("-policy is required")
	}

	ctx := context.Background()
	source, err := os.ReadFile(*policyFile)
	if err != nil {
		log.Fatal(err)
	}
	data := map[string]any{}
	if *dataFile != "" {
		raw, err := os.ReadFile(*dataFile)
		if err != nil {
			log.Fatal(err)
		}
		if err := util.UnmarshalJSON(raw, &data); err != nil {
			log.Fatalf("%s: %v", *dataFile, err)
		}
	}
	var cachingRaw []byte
	if *cachingFile != "" {
		if cachingRaw, err = os.ReadFile(*cachingFile); err != nil {
			log.Fatal(err)
		}
	}
	caching, err := cache.ParseCachingConfig(cachingRaw)
	if err != nil {
		log.Fatalf("caching: %v", err)
	}

	prepared, err := rego.New(
		rego.Query(*query),
		rego.Module(*policyFile, string(source)),
		rego.Store(inmem.NewFromObject(data)),
	).PrepareForEval(ctx)
	if err != nil {
		log.Fatal(err)
	}

	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	server := grpc.NewServer()
	authv3.RegisterAuthorizationServer(server, &authorizer{
		query:  prepared,
		values: cache.NewInterQueryValueCache(ctx, caching),
	})
	log.Fatal(server.Serve(listener))
}

func (a *authorizer) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	input, err := requestInput(req)
	if err == nil {
		var results rego.ResultSet
		results, err = a.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalInterQueryBuiltinValueCache(a.values))
		if err == nil && results.Allowed() {
			return &authv3.CheckResponse{
				Status:       &rpcstatus.Status{Code: int32(codes.OK)},
				HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
			}, nil
		}
	}
	body := ""
	if err != nil {
		body = err.Error()
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
			Body:   body,
		}},
	}, nil
}

// requestInput is the policy input for one Check: every field of the
// request under its JSON name, plus the path split into segments and the
// query parsed, so policies need not parse them.
func requestInput(req *authv3.CheckRequest) (ast.Value, error) {
	input := messageValue(req.ProtoReflect())
	path := req.GetAttributes().GetRequest().GetHttp().GetPath()
	rawPath, rawQuery, _ := strings.Cut(path, "?")
	segments := []any{}
	for _, s := range strings.Split(strings.TrimPrefix(rawPath, "/"), "/") {
		if decoded, err := url.PathUnescape(s); err == nil {
			s = decoded
		}
		segments = append(segments, s)
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("query string: %w", err)
	}
	parsedQuery := make(map[string]any, len(query))
	for k, vs := range query {
		values := make([]any, len(vs))
		for i, v := range vs {
			values[i] = v
		}
		parsedQuery[k] = values
	}
	input["parsed_path"] = segments
	input["parsed_query"] = parsedQuery
	input["version"] = version
	return ast.InterfaceToValue(input)
}

// messageValue maps the populated fields of m to Go values that
// ast.InterfaceToValue takes; google.protobuf.Struct (metadata) becomes its
// plain JSON object.
func messageValue(m protoreflect.Message) map[string]any {
	if s, ok := m.Interface().(*structpb.Struct); ok {
		return s.AsMap()
	}
	out := map[string]any{}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			entries := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
				entries[k.String()] = scalarOrMessage(fd.MapValue(), e)
				return true
			})
			out[fd.JSONName()] = entries
		case fd.IsList():
			list := v.List()
			items := make([]any, list.Len())
			for i := range items {
				items[i] = scalarOrMessage(fd, list.Get(i))
			}
			out[fd.JSONName()] = items
		default:
			out[fd.JSONName()] = scalarOrMessage(fd, v)
		}
		return true
	})
	return out
}

func scalarOrMessage(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return messageValue(v.Message())
	case protoreflect.EnumKind:
		if e := fd.Enum().Values().ByNumber(v.Enum()); e != nil {
			return string(e.Name())
		}
		return int32(v.Enum())
	case protoreflect.BytesKind: // raw_body: the bytes as they came
		return string(v.Bytes())
	// Widened to the types ast.InterfaceToValue converts directly (port
	// numbers are uint32, sizes int64).
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return v.Uint()
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float()
	default:
		return v.Interface()
	}
}
