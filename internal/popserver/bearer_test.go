package popserver

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// testToken is the one bearer token the test servers accept for demo.
const testToken = "ya29.test-token"

// newBearerServer returns newTestServer's server with bearer tokens checked against testToken.
func newBearerServer(t *testing.T, oneLineRefused bool) (*Server, *logBuffer) {
	srv, logs := newTestServer(t)
	srv.CheckToken = func(user, token string) bool { return user == "demo" && token == testToken }
	srv.TokenScope = "https://outlook.office.com/POP.AccessAsUser.All"
	srv.RejectInitialXOAUTH2 = oneLineRefused
	return srv, logs
}

func xoauth2(user, token string) string {
	return b64("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}

func oauthbearer(user, token string) string {
	return b64("n,a=" + user + ",\x01host=127.0.0.1\x01auth=Bearer " + token + "\x01\x01")
}

func TestBearerMechanisms(t *testing.T) {
	const stat = "+OK 12 "
	tests := []struct {
		name    string
		oneLine bool
		steps   []exchange
	}{
		{"XOAUTH2 two-step", true, []exchange{{cmd: "AUTH XOAUTH2", reply: "+ "},
			{cmd: xoauth2("demo", testToken), reply: "+OK Logged in."}}},
		{"XOAUTH2 one-line where allowed", false, []exchange{{cmd: "AUTH XOAUTH2 " + xoauth2("demo", testToken), reply: "+OK Logged in."}}},
		{"xoauth2 lower-case", false, []exchange{{cmd: "AUTH xoauth2", reply: "+ "},
			{cmd: xoauth2("demo", testToken), reply: "+OK Logged in."}}},
		{"OAUTHBEARER two-step", true, []exchange{{cmd: "AUTH OAUTHBEARER", reply: "+ "},
			{cmd: oauthbearer("demo", testToken), reply: "+OK Logged in."}}},
		{"OAUTHBEARER one-line", true, []exchange{{cmd: "AUTH OAUTHBEARER " + oauthbearer("demo", testToken), reply: "+OK Logged in."}}},
		{"XOAUTH2 token of another user", false, []exchange{{cmd: "AUTH XOAUTH2 " + xoauth2("bob", testToken),
			reply: "+ " + b64(`{"status":"401","schemes":"Bearer","scope":"https://outlook.office.com/POP.AccessAsUser.All"}`)},
			{cmd: "", reply: "-ERR [AUTH] Authentication failed."}}},
		{"XOAUTH2 malformed", false, []exchange{{cmd: "AUTH XOAUTH2 " + b64("user=demo\x01auth=Bearer "+testToken), reply: "-ERR [AUTH] Authentication failed."}}},
		{"XOAUTH2 not bearer", false, []exchange{{cmd: "AUTH XOAUTH2 " + b64("user=demo\x01auth=Basic "+testToken+"\x01\x01"), reply: "-ERR [AUTH] Authentication failed."}}},
		{"OAUTHBEARER without authzid", false, []exchange{{cmd: "AUTH OAUTHBEARER " + b64("n,,\x01auth=Bearer "+testToken+"\x01\x01"), reply: "-ERR [AUTH] Authentication failed."}}},
		{"OAUTHBEARER channel binding", false, []exchange{{cmd: "AUTH OAUTHBEARER " + b64("p=tls-unique,a=demo,\x01auth=Bearer "+testToken+"\x01\x01"), reply: "-ERR [AUTH] Authentication failed."}}},
		{"OAUTHBEARER bad escape", false, []exchange{{cmd: "AUTH OAUTHBEARER " + oauthbearer("de=4Dmo", testToken), reply: "-ERR [AUTH] Authentication failed."}}},
		{"cancelled", false, []exchange{{cmd: "AUTH XOAUTH2", reply: "+ "}, {cmd: "*", reply: "-ERR Authentication cancelled."},
			{cmd: "AUTH XOAUTH2 " + xoauth2("demo", testToken), reply: "+OK Logged in."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, logs := newBearerServer(t, tt.oneLine)
			c, _ := dial(t, serve(t, srv, false), false)
			c.run(tt.steps)
			if r := c.cmd("STAT"); strings.HasPrefix(tt.steps[len(tt.steps)-1].reply, "+OK") != strings.HasPrefix(r, stat) {
				t.Errorf("STAT after the exchange: %q", r)
			}
			if strings.Contains(logs.String(), testToken) {
				t.Errorf("the token reached the log:\n%s", logs)
			}
		})
	}
}

func TestBearerOffered(t *testing.T) {
	for _, withToken := range []bool{false, true} {
		srv, _ := newTestServer(t)
		want := []string{"PLAIN", "LOGIN", "CRAM-MD5"}
		if withToken {
			srv, _ = newBearerServer(t, false)
			want = append(want, "XOAUTH2", "OAUTHBEARER")
		}
		c, _ := dial(t, serve(t, srv, false), false)
		c.run([]exchange{{cmd: "AUTH", reply: "+OK", body: want}})
		if r := c.cmd("CAPA"); r != "+OK Capability list follows" {
			t.Fatalf("CAPA: %q", r)
		}
		var sasl string
		for _, l := range c.lines() {
			if strings.HasPrefix(l, "SASL ") {
				sasl = l
			}
		}
		if sasl != "SASL "+strings.Join(want, " ") {
			t.Errorf("with a token check %v: CAPA says %q", withToken, sasl)
		}
	}
}

func TestBearerRefusalChallenge(t *testing.T) {
	for _, tc := range []struct {
		mech, blob, answer, status string
	}{
		{"XOAUTH2", xoauth2("demo", "expired"), "", "401"},
		{"OAUTHBEARER", oauthbearer("demo", "expired"), "AQ==", "invalid_token"},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			srv, _ := newBearerServer(t, true)
			c, _ := dial(t, serve(t, srv, false), false)
			c.run([]exchange{{cmd: "AUTH " + tc.mech, reply: "+ "}})
			r := c.cmd(tc.blob)
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r, "+ "))
			var got map[string]string
			if !strings.HasPrefix(r, "+ ") || err != nil || json.Unmarshal(raw, &got) != nil {
				t.Fatalf("challenge %q (%q, %v)", r, raw, err)
			}
			if got["status"] != tc.status || got["scope"] != srv.TokenScope || (tc.mech == "XOAUTH2") != (got["schemes"] == "Bearer") {
				t.Errorf("challenge says %v", got)
			}
			c.run([]exchange{{cmd: tc.answer, reply: "-ERR [AUTH] Authentication failed."}, {cmd: "STAT", reply: "-ERR Not logged in."}})
		})
	}
}

func TestOneLineXOAUTH2Refused(t *testing.T) {
	srv, logs := newBearerServer(t, true)
	c, _ := dial(t, serve(t, srv, false), false)
	c.run([]exchange{{cmd: "AUTH XOAUTH2 " + xoauth2("demo", testToken), reply: "-ERR Protocol error. Connection is closed. 10"}})
	c.expectEOF()
	if strings.Contains(logs.String(), testToken) {
		t.Errorf("the token reached the log:\n%s", logs)
	}
}
