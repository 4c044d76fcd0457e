package redact

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestScrubSecrets(t *testing.T) {
	var s Scrubber
	s.AddSecret("")
	if got := s.Scrub("nothing to hide"); got != "nothing to hide" {
		t.Errorf("an empty secret changed the text: %q", got)
	}
	s.AddSecret("hunter2")
	s.AddSecret("aHVudGVyMg==")
	tests := []struct{ in, want string }{
		{"", ""},
		{"-ERR bad password hunter2", "-ERR bad password " + Marker},
		{"hunter2 hunter2", Marker + " " + Marker},
		{"echo aHVudGVyMg== and hunter2!", "echo " + Marker + " and " + Marker + "!"},
		{"HUNTER2 is another word", "HUNTER2 is another word"},
	}
	for _, tt := range tests {
		if got := s.Scrub(tt.in); got != tt.want {
			t.Errorf("Scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestScrubForgetsOldest checks that a Scrubber keeps the newest maxSecrets secrets.
func TestScrubForgetsOldest(t *testing.T) {
	var s Scrubber
	for i := range maxSecrets + 1 {
		s.AddSecret("secret-" + strconv.Itoa(i) + "-end")
	}
	if got := s.Scrub("secret-0-end"); got != "secret-0-end" {
		t.Errorf("the oldest secret is still scrubbed: %q", got)
	}
	for i := 1; i <= maxSecrets; i++ {
		if got := s.Scrub("secret-" + strconv.Itoa(i) + "-end"); got != Marker {
			t.Errorf("secret %d is logged as %q", i, got)
		}
	}
}

// TestScrubHidesNames checks that Scrub hides names and secrets, and HideNames names only.
func TestScrubHidesNames(t *testing.T) {
	s := Scrubber{Key: []byte("k")}
	s.AddSecret("s3cr3t")
	hash := s.AddName("bob")
	if !strings.HasPrefix(hash, "user-") || len(hash) != len("user-")+12 {
		t.Fatalf("AddName = %q, want user- and 12 hex digits", hash)
	}
	if got, want := s.Scrub("-ERR Bob: s3cr3t rejected"), "-ERR "+hash+": "+Marker+" rejected"; got != want {
		t.Errorf("Scrub = %q, want %q", got, want)
	}
	if got, want := s.HideNames("PASS s3cr3t for bob"), "PASS s3cr3t for "+hash; got != want {
		t.Errorf("HideNames = %q, want %q", got, want)
	}
}

// TestAddNameKeyed checks that a name's hash depends on the name and the key only.
func TestAddNameKeyed(t *testing.T) {
	a, b, c := Scrubber{Key: []byte("k")}, Scrubber{Key: []byte("k")}, Scrubber{Key: []byte("other")}
	if a.AddName("bob") != b.AddName("bob") {
		t.Error("the same name and key give different hashes")
	}
	if a.AddName("bob") == c.AddName("bob") || a.AddName("bob") == a.AddName("alice") {
		t.Error("another key or name gives the same hash")
	}
}

// TestImportsOnlyStdlib keeps the package a leaf: codec, which uses only the standard
// library, and logview, which must not depend on the codec, both import it for Marker.
func TestImportsOnlyStdlib(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}

// TestOneMarker checks that Marker is the one definition of the marker: no string literal in
// the module's code outside this package spells it (tests aside), so the codec's safe
// rendering, the log and the probe report cannot drift apart.
func TestOneMarker(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (path == here || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata"):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && strings.Contains(lit.Value, Marker) {
				t.Errorf("%s spells the marker: %s", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
