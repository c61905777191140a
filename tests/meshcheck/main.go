// Command meshcheck parses Istio mesh configs strictly against the
// MeshConfig message of istio.io/api (the version the pinned istioctl
// uses): an unknown field, a misspelt enum value or a wrong type is an
// error. istioctl validate and analyze accept such mistakes in a mesh
// config silently, and a misspelt key there falls back to a default (a
// 600 s ext_authz timeout, say) without a word.
//
//	meshcheck FILE.json ...
//
// Each file holds one mesh config as JSON. Prints one line per file and
// exits 1 if any is invalid.
package main

import (
	"fmt"
	"os"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: meshcheck FILE.json ...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err == nil {
			err = protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(data, &meshconfig.MeshConfig{})
		}
		if err != nil {
			fmt.Printf("%s: invalid: %v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("%s: valid\n", path)
	}
	if failed {
		os.Exit(1)
	}
}
