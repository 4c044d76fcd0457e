package config

import _ "embed"

// example is the commented example configuration.
//
//go:embed example.yaml
var example string

// Example returns a commented example configuration that Parse accepts.
func Example() string { return example }
