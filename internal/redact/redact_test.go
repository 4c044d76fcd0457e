package redact

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
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

// TestScrubOverlappingSecrets checks that no part of a secret shows when secrets overlap: a
// secret inside a longer one (a second password attempt), two that share an end, repeated
// occurrences of one, and a secret that is part of the marker.
func TestScrubOverlappingSecrets(t *testing.T) {
	tests := []struct {
		secrets  []string
		in, want string
	}{
		{[]string{"hunter", "hunter22"}, "bad password hunter22", "bad password " + Marker},
		{[]string{"hunter22", "hunter"}, "bad password hunter22 (hunter)", "bad password " + Marker + " (" + Marker + ")"},
		{[]string{"abcd", "cdef"}, "<abcdef>", "<" + Marker + ">"},
		{[]string{"xx"}, "xxx", Marker},
		{[]string{"s3cret", "act"}, "s3cret act", Marker + " " + Marker},
	}
	for _, tt := range tests {
		var s Scrubber
		for _, sec := range tt.secrets {
			s.AddSecret(sec)
		}
		if got := s.Scrub(tt.in); got != tt.want {
			t.Errorf("secrets %q: Scrub(%q) = %q, want %q", tt.secrets, tt.in, got, tt.want)
		}
	}
}

// TestCover compares cover with marking every occurrence found at every index, on random
// texts over two letters so that secrets overlap themselves often.
func TestCover(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	random := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "ab"[r.IntN(2)]
		}
		return string(b)
	}
	for range 20000 {
		text, sec := random(r.IntN(30)), random(1+r.IntN(5))
		want := make([]byte, len(text))
		first := -1
		for i := range text {
			if strings.HasPrefix(text[i:], sec) {
				if first < 0 {
					first = i
				}
				for j := i; j < i+len(sec); j++ {
					want[j] = 1
				}
			}
		}
		if first < 0 {
			continue
		}
		got := make([]byte, len(text))
		if cover(got, text, sec, first); !slices.Equal(got, want) {
			t.Fatalf("cover(%q, %q, %d) = %v, want %v", text, sec, first, got, want)
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
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pkg.Imports {
		if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
			t.Errorf("the package imports %s", path)
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

// TestPinnedNameOutlivesLaterNames checks that a pinned name stays hidden however many names
// are learnt after it, while an unpinned one makes room.
func TestPinnedNameOutlivesLaterNames(t *testing.T) {
	s := Scrubber{Key: []byte("k")}
	alice := s.AddName("alice")
	s.PinName("alice")
	bob := s.AddName("bob")
	for i := range 3 * maxNames {
		s.AddName(fmt.Sprintf("other%d", i))
	}
	if got, want := s.HideNames("alice and bob"), alice+" and bob"; got != want {
		t.Errorf("HideNames = %q, want %q (alice pinned, bob forgotten for room)", got, want)
	}
	if alice == bob {
		t.Fatal("two names share a hash")
	}
}

// TestMayChange checks that MayChange finds each secret and name that Scrub would take out of
// a text kept in parts, wherever the parts cut it, and only those.
func TestMayChange(t *testing.T) {
	var s Scrubber
	s.AddSecret("hunter2-secret")
	s.AddName("alice@example.org")
	texts := map[string]bool{
		"Subject: hi\r\n\r\nnothing to see here, bob\r\n": false,
		"the password is hunter2-secret, do not tell":     true,
		"From: ALICE@Example.ORG\r\n":                     true,
		"hunter2-secre and alice@example.or":              false,
	}
	for text, want := range texts {
		if changed := s.Scrub(text) != text; changed != want {
			t.Fatalf("%q: Scrub changes it %v, the test expects %v", text, changed, want)
		}
		for cut := 1; cut <= len(text); cut++ {
			for _, size := range []int{1, 3, len(text)} {
				var parts []string
				rest := text
				parts, rest = append(parts, rest[:cut-1]), rest[cut-1:]
				for rest != "" {
					n := min(size, len(rest))
					parts, rest = append(parts, rest[:n]), rest[n:]
				}
				if got := s.MayChange(parts); got != want {
					t.Fatalf("%q in parts %q: MayChange %v, want %v", text, parts, got, want)
				}
			}
		}
	}
}
