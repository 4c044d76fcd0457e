package codec

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// authSession runs a short session (greeting, then the client lines, each answered by the
// server line at the same index, "" for no answer) and returns the Auth of every client frame
// that has one, in order.
func authSession(t *testing.T, exchange [][2]string) []*Auth {
	t.Helper()
	tr := &Tracker{}
	tr.Server([]byte("+OK ready\r\n"))
	var out []*Auth
	collect := func(fs []Frame) {
		for _, f := range fs {
			if f.Dir == FromClient && f.Auth != nil && f.Kind != FrameHeld {
				out = append(out, f.Auth)
			}
		}
	}
	for _, x := range exchange {
		collect(tr.Client([]byte(x[0] + "\r\n")))
		if x[1] != "" {
			collect(tr.Server([]byte(x[1] + "\r\n")))
		}
	}
	return out
}

func TestAuthMechanisms(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	type want struct {
		mech, user, safe string
		step             int
		secrets          []string // each must be in Secrets (wire and decoded) and never in Safe
	}
	tests := []struct {
		name     string
		exchange [][2]string
		want     []want
	}{
		{"USER/PASS", [][2]string{{"USER tim", "+OK"}, {"PASS Tr0ub4dor &3 ", "+OK"}}, []want{
			{mech: "USER", user: "tim", safe: "USER tim"},
			{mech: "PASS", user: "tim", safe: "PASS [redacted]", secrets: []string{"Tr0ub4dor &3 ", "Tr0ub4dor &3"}},
		}},
		{"APOP", [][2]string{{"APOP mrose c4c9334bac560ecc979e58001b3e22fb", "+OK"}}, []want{
			{mech: "APOP", user: "mrose", safe: "APOP mrose [redacted]", secrets: []string{"c4c9334bac560ecc979e58001b3e22fb"}},
		}},
		{"PLAIN IR", [][2]string{{"AUTH PLAIN " + b64("admin\x00tim\x00Tr0ub4dor&3"), "+OK"}}, []want{
			{mech: "PLAIN", user: "tim", safe: `AUTH PLAIN authzid="admin" authcid="tim" password=[redacted]`,
				secrets: []string{b64("admin\x00tim\x00Tr0ub4dor&3"), "Tr0ub4dor&3"}},
		}},
		{"LOGIN", [][2]string{{"AUTH LOGIN", "+ VXNlcm5hbWU6"}, {b64("tim"), "+ UGFzc3dvcmQ6"}, {b64("Tr0ub4dor&3"), "+OK"}}, []want{
			{mech: "LOGIN", safe: "AUTH LOGIN"},
			{mech: "LOGIN", step: 1, user: "tim", safe: `username="tim"`},
			{mech: "LOGIN", step: 2, safe: "password=[redacted]", secrets: []string{b64("Tr0ub4dor&3"), "Tr0ub4dor&3"}},
		}},
		{"LOGIN IR", [][2]string{{"AUTH LOGIN " + b64("tim"), "+ UGFzc3dvcmQ6"}, {b64("Tr0ub4dor&3"), "+OK"}}, []want{
			{mech: "LOGIN", user: "tim", safe: `AUTH LOGIN username="tim"`},
			{mech: "LOGIN", step: 1, safe: "password=[redacted]", secrets: []string{b64("Tr0ub4dor&3"), "Tr0ub4dor&3"}},
		}},
		{"CRAM-MD5", [][2]string{{"AUTH CRAM-MD5", "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"},
			{b64("tim 7a1ee8b3d1c0f5e5b3f6a0b2c4d6e8f0"), "+OK"}}, []want{
			{mech: "CRAM-MD5", safe: "AUTH CRAM-MD5"},
			{mech: "CRAM-MD5", step: 1, user: "tim", safe: `user="tim" digest=[redacted]`,
				secrets: []string{b64("tim 7a1ee8b3d1c0f5e5b3f6a0b2c4d6e8f0"), "7a1ee8b3d1c0f5e5b3f6a0b2c4d6e8f0"}},
		}},
		{"XOAUTH2 error", [][2]string{{"AUTH XOAUTH2 " + b64("user=tim@example.com\x01auth=Bearer ya29.SeCrEtToKeN\x01\x01"),
			"+ eyJzdGF0dXMiOiI0MDAifQ=="}, {"", "-ERR [AUTH] Invalid credentials."}}, []want{
			{mech: "XOAUTH2", user: "tim@example.com", safe: `AUTH XOAUTH2 user="tim@example.com" auth=[redacted]`,
				secrets: []string{b64("user=tim@example.com\x01auth=Bearer ya29.SeCrEtToKeN\x01\x01"), "Bearer ya29.SeCrEtToKeN", "ya29.SeCrEtToKeN"}},
			{mech: "XOAUTH2", step: 1, safe: ""},
		}},
		{"OAUTHBEARER error", [][2]string{{"AUTH OAUTHBEARER " + b64("n,a=tim@example.com,\x01host=pop.example.com\x01port=995\x01auth=Bearer SeCrEtToKeN2\x01\x01"),
			"+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0="}, {"AQ==", "-ERR"}}, []want{
			{mech: "OAUTHBEARER", user: "tim@example.com",
				safe:    `AUTH OAUTHBEARER gs2="n,a=tim@example.com," host="pop.example.com" port="995" auth=[redacted]`,
				secrets: []string{"Bearer SeCrEtToKeN2", "SeCrEtToKeN2"}},
			{mech: "OAUTHBEARER", step: 1, safe: "error-ack"},
		}},
		{"SCRAM-SHA-1", [][2]string{{"AUTH SCRAM-SHA-1 " + b64("n,,n=tim,r=fyko+d2lbbFgONRv9qkxdawL"), "+ cj1meWtv"},
			{b64("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="), "+ dj1ybUY5cHFWOFM3c3VBb1pXamE0ZEpSa0ZzS1E9"},
			{"", "+OK"}}, []want{
			{mech: "SCRAM-SHA-1", user: "tim", safe: `AUTH SCRAM-SHA-1 client-first="n,,n=tim,r=fyko+d2lbbFgONRv9qkxdawL"`},
			{mech: "SCRAM-SHA-1", step: 1, safe: "[redacted]", secrets: []string{"p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
				b64("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")}},
			{mech: "SCRAM-SHA-1", step: 2, safe: ""},
		}},
		{"DIGEST-MD5", [][2]string{{"AUTH DIGEST-MD5", "+ cmVhbG09ImV4YW1wbGUuY29tIg=="},
			{b64(`username="tim",realm="example.com",nonce="abc",cnonce="def",nc=00000001,qop=auth,digest-uri="pop/example.com",response=0123456789abcdef0123456789abcdef`), "+ cnNwYXV0aD0x"},
			{"", "+OK"}}, []want{
			{mech: "DIGEST-MD5", safe: "AUTH DIGEST-MD5"},
			{mech: "DIGEST-MD5", step: 1, user: "tim",
				safe:    `username="tim" realm="example.com" nonce="abc" cnonce="def" nc="00000001" qop="auth" digest-uri="pop/example.com" response=[redacted]`,
				secrets: []string{"0123456789abcdef0123456789abcdef"}},
			{mech: "DIGEST-MD5", step: 2, safe: ""},
		}},
		{"NTLM", [][2]string{{"AUTH NTLM", "+ "}, {"TlRMTVNTUAABAAAAB4IIAAAAAAAAAAAAAAAAAAAAAAA=", "+ TlRMTVNTUAACAAAA"},
			{"TlRMTVNTUAADAAAAGAAYAEAAAAAYABgAWAAAAAgACABwAAAACgAKAHgAAAAGAAYAggAAAAAAAACIAAAAAQIAABERERERERERERERERERERERERERERERESIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIkMATwBSAFAAYQBsAGkAYwBlAFcAUwAxAA==", "+OK"}}, []want{
			{mech: "NTLM", safe: "AUTH NTLM"},
			{mech: "NTLM", step: 1, safe: "NTLM negotiate (type 1)"},
			{mech: "NTLM", step: 2, user: `CORP\alice`, safe: `NTLM authenticate (type 3) domain="CORP" user="alice" workstation="WS1" responses=[redacted]`,
				secrets: []string{"TlRMTVNTUAADAAAAGAAYAEAAAAAYABgAWAAAAAgACABwAAAACgAKAHgAAAAGAAYAggAAAAAAAACIAAAAAQIAABERERERERERERERERERERERERERERERESIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIkMATwBSAFAAYQBsAGkAYwBlAFcAUwAxAA=="}},
		}},
		{"GSSAPI", [][2]string{{"AUTH GSSAPI", "+ "}, {b64("\x60\x82\x01\x00KerberosTicketBytes"), "-ERR"}}, []want{
			{mech: "GSSAPI", safe: "AUTH GSSAPI"},
			{mech: "GSSAPI", step: 1, safe: "token=[redacted] (23 bytes)", secrets: []string{b64("\x60\x82\x01\x00KerberosTicketBytes"), "KerberosTicketBytes"}},
		}},
		{"EXTERNAL", [][2]string{{"AUTH EXTERNAL " + b64("tim@example.com"), "+OK"}}, []want{
			{mech: "EXTERNAL", user: "tim@example.com", safe: `AUTH EXTERNAL authzid="tim@example.com"`},
		}},
		{"ANONYMOUS", [][2]string{{"AUTH ANONYMOUS " + b64("tim@private.example"), "+OK"}}, []want{
			{mech: "ANONYMOUS", safe: "AUTH ANONYMOUS trace=[redacted]", secrets: []string{"tim@private.example"}},
		}},
		{"unknown mechanism", [][2]string{{"AUTH X-CORP " + b64("tim:Tr0ub4dor&3"), "+ "}, {b64("more secret"), "-ERR"}}, []want{
			{mech: "X-CORP", safe: "AUTH X-CORP [redacted]", secrets: []string{b64("tim:Tr0ub4dor&3"), "tim:Tr0ub4dor&3"}},
			{mech: "X-CORP", step: 1, safe: "[redacted]", secrets: []string{"more secret"}},
		}},
		{"cancel and never-secret lines", [][2]string{{"AUTH PLAIN =", "+ "}, {"*", "-ERR"}}, []want{
			{mech: "PLAIN", safe: "AUTH PLAIN ="},
			{mech: "PLAIN", step: 1, safe: "*"},
		}},
		{"unknown line in AUTHORIZATION", [][2]string{{"Tr0ub4dor&3", "-ERR"}}, []want{
			{safe: "[redacted]", secrets: []string{"Tr0ub4dor&3"}},
		}},
		{"XOAUTH2 with a key that is no token", [][2]string{{"AUTH XOAUTH2 " + b64("user=tim\x01Tr0ub4dor&3\x01\x01"), "-ERR"}}, []want{
			{mech: "XOAUTH2", safe: "AUTH XOAUTH2 [redacted]", secrets: []string{"Tr0ub4dor&3"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := authSession(t, tt.exchange)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d Auth frames, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				a := got[i]
				if a.Mech != w.mech || a.Step != w.step || a.User != w.user || a.Safe != w.safe {
					t.Errorf("Auth %d = {Mech %q Step %d User %q Safe %q}, want {Mech %q Step %d User %q Safe %q}",
						i, a.Mech, a.Step, a.User, a.Safe, w.mech, w.step, w.user, w.safe)
				}
				for _, s := range w.secrets {
					if strings.Contains(a.Safe, s) {
						t.Errorf("Auth %d: Safe %q reveals %q", i, a.Safe, s)
					}
					if !containsSecret(a.Secrets, s) {
						t.Errorf("Auth %d: secret %q not among Secrets %q", i, s, a.Secrets)
					}
				}
				for _, s := range a.Secrets {
					if len(s) == 0 {
						t.Errorf("Auth %d: empty secret", i)
					}
					if strings.Contains(a.Safe, string(s)) {
						t.Errorf("Auth %d: Safe %q reveals secret %q", i, a.Safe, s)
					}
				}
				if len(w.secrets) == 0 && len(a.Secrets) != 0 {
					t.Errorf("Auth %d: Secrets %q, want none", i, a.Secrets)
				}
			}
		})
	}
}

// containsSecret reports whether s is one of secrets, or a substring of one of them (a
// decoded secret may be recorded together with what surrounds it).
func containsSecret(secrets [][]byte, s string) bool {
	for _, have := range secrets {
		if bytes.Contains(have, []byte(s)) {
			return true
		}
	}
	return false
}

// TestSanitisedCommand checks that reply frames and command frames carrying a secret never
// hold it in Cmd, which callers may log.
func TestSanitisedCommand(t *testing.T) {
	tr := &Tracker{}
	tr.Server([]byte("+OK\r\n"))
	var fs []Frame
	fs = append(fs, tr.Client([]byte("USER tim\r\nPASS Tr0ub4dor&3\r\nS3cretLine\r\n"))...)
	fs = append(fs, tr.Server([]byte("+OK\r\n-ERR\r\n-ERR\r\n"))...)
	for _, f := range fs {
		if strings.Contains(f.Cmd.String(), "Tr0ub4dor") || strings.Contains(f.Cmd.String(), "S3cret") {
			t.Errorf("%v frame: Cmd %q holds a secret", f.Kind, f.Cmd.String())
		}
	}
}

// TestAuthNames checks that Names lists every identity a line shows, authorisation
// identities included, decoded from the SASL escapes.
func TestAuthNames(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name     string
		exchange [][2]string
		want     []string // Names of the last frame
	}{
		{"USER", [][2]string{{"USER tim", ""}}, []string{"tim"}},
		{"APOP", [][2]string{{"APOP mrose c4c9334bac560ecc979e58001b3e22fb", ""}}, []string{"mrose"}},
		{"PLAIN", [][2]string{{"AUTH PLAIN " + b64("admin\x00CORP\\tim\x00pw"), ""}}, []string{"admin", `CORP\tim`}},
		{"PLAIN without authzid", [][2]string{{"AUTH PLAIN " + b64("\x00tim\x00pw"), ""}}, []string{"tim"}},
		{"SCRAM", [][2]string{{"AUTH SCRAM-SHA-256 " + b64("n,a=ad=2Cmin,n=t=3Dim,r=abc"), ""}}, []string{"ad,min", "t=im"}},
		{"DIGEST-MD5", [][2]string{{"AUTH DIGEST-MD5", "+ " + b64(`nonce="n"`)},
			{b64(`username="tim",authzid="admin",nonce="n",response=0123`), ""}}, []string{"tim", "admin"}},
		{"EXTERNAL", [][2]string{{"AUTH EXTERNAL " + b64("tim"), ""}}, []string{"tim"}},
		{"secret as a whole", [][2]string{{"AUTH PLAIN " + b64("tim"), ""}}, nil},
	}
	for _, tt := range tests {
		auths := authSession(t, tt.exchange)
		if got := auths[len(auths)-1].Names; strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: Names = %q, want %q", tt.name, got, tt.want)
		}
	}
}
