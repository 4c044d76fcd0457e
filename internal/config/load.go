package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Load reads and checks the configuration file at path. Every mistake is an *Error naming
// path and the line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read it: " + err.Error(), Err: err}
	}
	return Parse(path, data)
}

// yamlLine finds the line in a syntax error of the YAML library ("yaml: line 3: …").
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// Parse checks data, the content of the configuration file name.
func Parse(name string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(name, err)
	}
	if len(doc.Content) == 0 || len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{File: name, Msg: "the file is empty: it needs at least routes (popwire config example prints one)"}
	}
	root := doc.Content[0]
	if err := checkKeys(root, reflect.TypeFor[file](), ""); err != nil {
		return nil, located(name, err)
	}
	var f file
	if err := root.Decode(&f); err != nil {
		return nil, located(name, err)
	}
	recordLines(root, &f)
	cfg, err := resolve(&f)
	if err != nil {
		return nil, located(name, err)
	}
	cfg.File = name
	return cfg, nil
}

// syntaxError turns a syntax error of the YAML library into an *Error.
func syntaxError(name string, err error) error {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	return &Error{File: name, Line: line, Msg: msg, Err: err}
}

// located turns a lineError, or an error of the YAML library, into an *Error of file name.
func located(name string, err error) error {
	if le, ok := errors.AsType[*lineError](err); ok {
		return &Error{File: name, Line: le.line, Msg: le.msg}
	}
	if te, ok := errors.AsType[*yaml.TypeError](err); ok && len(te.Errors) > 0 {
		return syntaxError(name, fmt.Errorf("yaml: %s", te.Errors[0]))
	}
	return syntaxError(name, err)
}

// recordLines keeps the lines where the routes, their listeners and OAuth settings start,
// which their errors name.
func recordLines(root *yaml.Node, f *file) {
	routes := valueOf(root, "routes")
	if routes == nil {
		return
	}
	for i, rn := range routes.Content {
		r := &f.Routes[i]
		r.line = rn.Line
		r.OAuth.line = keyLine(rn, "oauth")
		if ls := valueOf(rn, "listen"); ls != nil {
			for j, ln := range ls.Content {
				r.Listen[j].line = ln.Line
			}
		}
	}
	f.OAuth.line = keyLine(root, "oauth")
}

// keyLine returns the line of key in mapping n, or 0.
func keyLine(n *yaml.Node, key string) int {
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return 0
}

// valueOf returns the value of key in mapping n, or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			if v.ShortTag() == "!!null" {
				return nil
			}
			return v
		}
	}
	return nil
}
