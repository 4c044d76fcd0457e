package config

import (
	"errors"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is a mistake in a configuration file, at a line (1-based; 0 when it concerns the
// whole file).
type Error struct {
	File string
	Line int
	Msg  string
	Err  error // the cause, when there is one; nil otherwise
}

// Error returns "config: FILE:LINE: MSG".
func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("config: %s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("config: %s:%d: %s", e.File, e.Line, e.Msg)
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// lineError is an Error before the file name is known: what a value's UnmarshalYAML returns.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// Value is one setting of the file: its value, whether the file set it, and the line where
// it did. The zero Value is a setting the file leaves out.
type Value[T any] struct {
	V    T
	Set  bool
	Line int
}

// UnmarshalYAML decodes the value at n, refusing a value of the wrong type with its line.
func (v *Value[T]) UnmarshalYAML(n *yaml.Node) error {
	v.Set, v.Line = true, n.Line
	if err := n.Decode(&v.V); err != nil {
		if le, ok := errors.AsType[*lineError](err); ok {
			return le
		}
		return &lineError{n.Line, fmt.Sprintf("want %s, found %q", typeName[T](), n.Value)}
	}
	return nil
}

// or returns v's value when set, else def's when set, else fallback.
func (v Value[T]) or(def Value[T], fallback T) T {
	switch {
	case v.Set:
		return v.V
	case def.Set:
		return def.V
	}
	return fallback
}

// pick returns v when set, else def.
func (v Value[T]) pick(def Value[T]) Value[T] {
	if v.Set {
		return v
	}
	return def
}

// Duration is a time.Duration written as Go spells one ("90s", "10m", "1h30m").
type Duration time.Duration

// UnmarshalYAML decodes a duration, refusing a negative or malformed one.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		return &lineError{n.Line, "want a duration such as 90s or 10m"}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return &lineError{n.Line, fmt.Sprintf("want a duration such as 90s or 10m, found %q", s)}
	}
	*d = Duration(v)
	return nil
}

// typeName says in words what a T is written as.
func typeName[T any]() string {
	var z T
	switch any(z).(type) {
	case string:
		return "a string"
	case bool:
		return "true or false"
	case int:
		return "an integer"
	case []string:
		return "a list of strings"
	}
	return fmt.Sprintf("%T", z)
}

// isValue marks Value types for checkKeys: a leaf, checked when decoded.
func (Value[T]) isValue() {}
