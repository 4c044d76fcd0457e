package main

import (
	"errors"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// mainGoDecls are the names main.go may declare: the program's entry, the exit-status
// contract of run, and the version.
var mainGoDecls = []string{"version", "main", "usageError", "usagef", "run", "runApp", "newApp", "onUsageError", "versionString"}

// TestLayout checks where the code of package main lives: each command is built, and runs,
// in a file named for it (cmd_NAME.go) that no other file uses but for newApp's list of
// commands; main.go holds only mainGoDecls; and main alone ends the process, so that run
// decides every exit status.
func TestLayout(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	declaredIn := map[string]string{} // top-level name → file
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			for _, n := range declNames(d) {
				declaredIn[n] = name
				if name == "main.go" && !slices.Contains(mainGoDecls, n) {
					t.Errorf("main.go declares %s; it holds only %v", n, mainGoDecls)
				}
			}
			if fd, ok := d.(*ast.FuncDecl); ok {
				for _, exit := range exitCalls(fd) {
					if name != "main.go" || fd.Name.Name != "main" {
						t.Errorf("%s: %s calls %s; only main may end the process", fset.Position(exit.Pos()), fd.Name.Name, callName(exit))
					}
				}
			}
		}
	}
	for _, f := range parsed {
		user := fset.Position(f.Pos()).Filename
		for _, id := range f.Unresolved { // references to what other files declare
			home := declaredIn[id.Name]
			if user == "main.go" && home == "cmd_"+strings.TrimSuffix(id.Name, "Command")+".go" {
				continue // newApp lists the commands
			}
			if strings.HasPrefix(home, "cmd_") && home != user {
				t.Errorf("%s: %s uses %s of %s; what several files use goes in a shared file", fset.Position(id.Pos()), user, id.Name, home)
			}
		}
	}
	for _, cmd := range newApp(io.Discard, io.Discard).Commands {
		want := "cmd_" + cmd.Name + ".go"
		if got := declaredIn[cmd.Name+"Command"]; got != want {
			t.Errorf("%sCommand is declared in %q, want %s", cmd.Name, got, want)
		}
		fn := runtime.FuncForPC(reflect.ValueOf(cmd.Action).Pointer())
		if file, _ := fn.FileLine(fn.Entry()); filepath.Base(file) != want {
			t.Errorf("the action of %s, %s, is in %s, want %s", cmd.Name, fn.Name(), filepath.Base(file), want)
		}
	}
}

// declNames returns the names a top-level declaration declares (none for a method).
func declNames(d ast.Decl) []string {
	var names []string
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil {
			names = append(names, d.Name.Name)
		}
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.ValueSpec:
				for _, n := range s.Names {
					names = append(names, n.Name)
				}
			case *ast.TypeSpec:
				names = append(names, s.Name.Name)
			}
		}
	}
	return names
}

// exitCalls returns the calls in fd that end the process: os.Exit and log.Fatal….
func exitCalls(fd *ast.FuncDecl) []*ast.SelectorExpr {
	var calls []*ast.SelectorExpr
	ast.Inspect(fd, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			if pkg, ok := sel.X.(*ast.Ident); ok && (pkg.Name == "os" && sel.Sel.Name == "Exit" || pkg.Name == "log" && strings.HasPrefix(sel.Sel.Name, "Fatal")) {
				calls = append(calls, sel)
			}
		}
		return true
	})
	return calls
}

// TestExitCalls checks that exitCalls, which TestLayout relies on, finds each way to end the
// process and nothing else.
func TestExitCalls(t *testing.T) {
	src := `package p
func f() { os.Exit(1); log.Fatalf("x"); log.Printf("y"); fmt.Exit(); if true { log.Fatal() } }`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range exitCalls(f.Decls[0].(*ast.FuncDecl)) {
		got = append(got, callName(c))
	}
	if want := []string{"os.Exit", "log.Fatalf", "log.Fatal"}; !slices.Equal(got, want) {
		t.Fatalf("exitCalls = %q, want %q", got, want)
	}
}

// callName returns the spelling of a call's function, such as os.Exit.
func callName(sel *ast.SelectorExpr) string {
	return sel.X.(*ast.Ident).Name + "." + sel.Sel.Name
}

// TestToolsDoNotImportServer keeps the diagnostic tools off the server: probe and shell reach
// a POP3 server through popclient, as the proxy's upstream leg does, and do not import proxy
// (not even in their tests).
func TestToolsDoNotImportServer(t *testing.T) {
	const server = "github.com/popwire/popwire/internal/proxy"
	for _, dir := range []string{"internal/probe", "internal/shell"} {
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

// TestPublicPackages keeps what other modules may import to the POP3 library: every package
// of the module outside internal/ is codec, a command (package main), or tests with a package
// comment and nothing else (e2e).
func TestPublicPackages(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range entries {
		if !d.IsDir() || d.Name() == "internal" || d.Name() == "codec" || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		pkg, err := build.ImportDir(d.Name(), 0)
		var none *build.NoGoError
		switch {
		case errors.As(err, &none):
			continue // no Go code: docs, scripts
		case err != nil:
			t.Fatal(err)
		}
		checked++
		if len(pkg.GoFiles) == 0 {
			continue // tests only, such as deploy/: nothing to import
		}
		if pkg.Name != "main" && !slices.Equal(pkg.GoFiles, []string{"doc.go"}) {
			t.Errorf("%s is importable by other modules (package %s): move it under internal/", d.Name(), pkg.Name)
		}
	}
	if checked == 0 {
		t.Fatal("no package checked")
	}
}

// TestImportRules checks the design's import rules: codec is a POP3 library on the standard
// library (and the one redaction marker), and the log format does not depend on the parser.
func TestImportRules(t *testing.T) {
	const module = "github.com/popwire/popwire/"
	codec, err := build.ImportDir("codec", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range codec.Imports {
		if strings.Contains(imp, ".") && imp != module+"internal/redact" {
			t.Errorf("codec imports %s: it may use the standard library and internal/redact only", imp)
		}
	}
	logview, err := build.ImportDir("internal/logview", 0)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(logview.Imports, module+"codec") {
		t.Error("internal/logview imports codec: the log format must not depend on parser internals")
	}
}
