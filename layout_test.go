package main

import (
	"go/build"
	"slices"
	"testing"
)

// TestToolsDoNotImportServer keeps the diagnostic tools off the server: probe and shell reach
// a POP3 server through popclient, as the proxy's upstream leg does, and do not import proxy
// (not even in their tests).
func TestToolsDoNotImportServer(t *testing.T) {
	const server = "github.com/popwire/popwire/proxy"
	for _, dir := range []string{"probe", "shell"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imports := range [][]string{pkg.Imports, pkg.TestImports, pkg.XTestImports} {
			if slices.Contains(imports, server) {
				t.Errorf("%s imports %s", dir, server)
			}
		}
	}
}
