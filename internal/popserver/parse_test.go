package popserver

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		want command
		ok   bool
	}{
		{"USER demo", command{"USER", "demo"}, true},
		{"user demo", command{"USER", "demo"}, true},
		{"uSeR demo", command{"USER", "demo"}, true},
		{"STAT", command{"STAT", ""}, true},
		{"TOP 1 0", command{"TOP", "1 0"}, true},
		{"top 1 0", command{"TOP", "1 0"}, true},
		{"LIST ", command{"LIST", ""}, true},
		{"LIST   ", command{"LIST", ""}, true},
		{"LIST   2", command{"LIST", "2"}, true},
		{"LIST 2 ", command{"LIST", "2 "}, true},
		{"PASS  a b ", command{"PASS", "a b "}, true},
		{"AUTH PLAIN =", command{"AUTH", "PLAIN ="}, true},
		{"USER a\rb", command{"USER", "a\rb"}, true},
		{"USER \xfc", command{"USER", "\xfc"}, true},
		{"X!~ x", command{"X!~", "x"}, true},
		{"", command{}, false},
		{" ", command{}, false},
		{" USER demo", command{}, false},
		{"US", command{}, false},
		{"US x", command{}, false},
		{"XYZZY", command{}, false},
		{"XYZZY secret", command{}, false},
		{"AUTH\tPLAIN", command{}, false},
		{"LIST\t", command{}, false},
		{"QUIT\r", command{}, false},
		{"NO\x00P", command{}, false},
		{"\x7fABC", command{}, false},
		{"\xdcSER x", command{}, false},
	}
	for _, tt := range tests {
		got, ok := parseCommand([]byte(tt.line))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCommand(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

// TestMalformedCommands checks the replies to lines a strict server reads differently from a
// lenient one: a TAB does not separate the keyword, and blanks after an argument are part of it.
func TestMalformedCommands(t *testing.T) {
	srv, _ := newTestServer(t)
	size1 := strconv.Itoa(len(srv.Store.Messages("demo")[0].Data))
	c, _ := dial(t, serve(t, srv, false), false)
	c.run([]exchange{
		{cmd: "USER\tdemo", reply: "-ERR Unknown command."},
		{cmd: "USER demo", reply: "+OK"},
		{cmd: "PASS " + testPassword, reply: "+OK Logged in."},
		{cmd: "NOOP\t", reply: "-ERR Unknown command."},
		{cmd: "NOOP ", reply: "+OK"},
		{cmd: "LIST\t1", reply: "-ERR Unknown command."},
		{cmd: "LIST 1 ", reply: "-ERR Invalid message number."},
		{cmd: "LIST  1", reply: "+OK 1 " + size1},
		{cmd: "TOP 1 0 ", reply: "-ERR Invalid line count."},
		{cmd: "RETRIEVE 1", reply: "-ERR Unknown command."},
		{cmd: "DELE\r", reply: "-ERR Unknown command."},
		{cmd: "STAT", reply: "+OK 12 " + strconv.Itoa(sampleSize())},
	})
}

// TestParsesWithoutCodec keeps the server independent of the codec it serves as a test
// upstream for: were it to parse with codec, a codec parse bug could not show in those tests.
func TestParsesWithoutCodec(t *testing.T) {
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
			if path, _ := strconv.Unquote(imp.Path.Value); path == "github.com/popwire/popwire/codec" {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
