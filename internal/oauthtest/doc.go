// Package oauthtest is an OAuth 2.0 authorization server on loopback for tests and the
// offline demo: an authorization endpoint that checks PKCE and approves at once (RFC 6749
// §4.1, RFC 7636), device authorization (RFC 8628), a token endpoint with refresh-token
// rotation, introspection (RFC 7662, as Dovecot's oauth2 passdb calls it) and revocation
// (RFC 7009), plus controls a test turns: take the server down, expire every access token,
// revoke an account, count what was served.
//
// Endpoints, relative to Server.URL:
//
//	GET  /authorize    response_type=code, client_id, redirect_uri (http on a loopback
//	                   address), state, code_challenge, code_challenge_method=S256, scope,
//	                   login_hint (the account approved; Options.User when absent); answers
//	                   302 to redirect_uri with code and state.
//	POST /device       client_id, scope: device_code, user_code, verification_uri, interval 1.
//	POST /token        grant_type authorization_code (code, redirect_uri, code_verifier),
//	                   urn:ietf:params:oauth:grant-type:device_code (device_code) or
//	                   refresh_token (refresh_token); client authentication in the body or
//	                   with HTTP Basic when Options.ClientSecret is set.
//	POST /introspect   token: active, username, sub, email, scope, exp, client_id,
//	                   token_type; client authentication when Options.IntrospectionClientID
//	                   is set.
//	POST /revoke       token (access or refresh; revoking a refresh token also ends the
//	                   access tokens issued with it); always 200 for a valid client.
//
// Every token, code and device code is random and is a secret: Server.Secrets lists them for
// tests that search outputs.
//
// Dovecot 2.3's oauth2 passdb validates the access tokens with these lines in its args file:
//
//	introspection_mode = post
//	introspection_url = <Server.IntrospectionURL()>
//	client_id = <Options.IntrospectionClientID>
//	client_secret = <Options.IntrospectionClientSecret>
//	username_attribute = username
//	active_attribute = active
//	active_value = true
//
// A typical test:
//
//	srv, err := oauthtest.New(oauthtest.Options{ClientID: "popwire", User: "ann@example.com", AccessLifetime: 2 * time.Minute})
//	if err != nil { t.Fatal(err) }
//	t.Cleanup(srv.Close)
//	// popwire auth login ann@example.com --provider test --oauth-client-id popwire \
//	//   --oauth-token-url srv.TokenURL() --oauth-device-url srv.DeviceURL() ...
//	// popwire refreshes when less than 5 minutes, or half the token's lifetime, is left:
//	// with an AccessLifetime of 4 s, logins more than 2 s after the last refresh cause one
//	// refresh, however many sessions log in at once. ExpireAccessTokens makes
//	// introspection refuse every token issued so far (popwire does not know).
//	if srv.Refreshes() != 1 { ... }
package oauthtest
