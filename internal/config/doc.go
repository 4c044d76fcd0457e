// Package config reads popwire's configuration file (YAML, `serve --config FILE`,
// `popwire config check`): process-wide logging, global defaults and the routes, each its
// listeners, upstream, client-leg certificate, policy, limits and logging overrides. Every
// mistake it finds is an *Error that names the file and line. Load only reads the file: it
// opens no listener, certificate or CA (the caller loads those, and can name the line of the
// key that names a failing file with Route.Lines).
package config
