package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// leaf is implemented by Value: a setting that decoding checks.
type leaf interface{ isValue() }

var leafType = reflect.TypeFor[leaf]()

// checkKeys checks that n has the shape of t: a mapping with only t's keys where t is a
// struct, a list where t is a slice of structs, recursively; path names n in the error.
// Values are left to decoding.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.ShortTag() == "!!null" || t.Implements(leafType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return &lineError{n.Line, fmt.Sprintf("%s: want keys and values (a mapping), found %q", path, n.Value)}
		}
		fields := keysOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				return &lineError{k.Line, fmt.Sprintf("unknown key %q in %s (known: %s)", k.Value, orFile(path), strings.Join(sortedKeys(fields), ", "))}
			}
			if err := checkKeys(v, ft, join(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return &lineError{n.Line, fmt.Sprintf("%s: want a list, found %q", path, n.Value)}
		}
		for i, item := range n.Content {
			if err := checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// keysOf returns the keys of struct type t, with those of its inline fields, and their types.
func keysOf(t reflect.Type) map[string]reflect.Type {
	keys := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("yaml")
		switch {
		case tag == ",inline":
			for k, v := range keysOf(f.Type) {
				keys[k] = v
			}
		case tag != "":
			keys[tag] = f.Type
		}
	}
	return keys
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// orFile names path in a message: the whole file when it is "".
func orFile(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

// join names key inside path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
