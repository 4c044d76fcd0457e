package oauth

import (
	"encoding/base64"
	"slices"
	"testing"
)

func TestInitialResponse(t *testing.T) {
	for _, tc := range []struct {
		m          Mechanism
		user, want string
	}{
		{XOAUTH2, "someone@example.com", "user=someone@example.com\x01auth=Bearer tok\x01\x01"},
		{OAUTHBEARER, "someone@example.com", "n,a=someone@example.com,\x01auth=Bearer tok\x01\x01"},
		{OAUTHBEARER, "a,b=c", "n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01"},
	} {
		got, err := base64.StdEncoding.DecodeString(tc.m.InitialResponse(tc.user, "tok"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("%v %q: got %q, want %q", tc.m, tc.user, got, tc.want)
		}
	}
	if XOAUTH2.String() != "XOAUTH2" || OAUTHBEARER.String() != "OAUTHBEARER" {
		t.Errorf("names: %v %v", XOAUTH2, OAUTHBEARER)
	}
}

func TestRespond(t *testing.T) {
	for _, m := range []Mechanism{XOAUTH2, OAUTHBEARER} {
		response, secrets := m.Respond("a,b=c", "tok")
		if response != m.InitialResponse("a,b=c", "tok") {
			t.Errorf("%v: response %q, want InitialResponse's", m, response)
		}
		raw, _ := base64.StdEncoding.DecodeString(response)
		want := []string{"tok", base64.StdEncoding.EncodeToString([]byte("tok")), response, string(raw)}
		if !slices.Equal(secrets, want) {
			t.Errorf("%v: secrets %q, want %q", m, secrets, want)
		}
	}
}

func TestErrorAnswer(t *testing.T) {
	if got := XOAUTH2.ErrorAnswer(); got != "" {
		t.Errorf("XOAUTH2: %q, want the empty answer", got)
	}
	if got, _ := base64.StdEncoding.DecodeString(OAUTHBEARER.ErrorAnswer()); string(got) != "\x01" {
		t.Errorf("OAUTHBEARER: %q, want %%x01 (RFC 7628 §3.2.3)", got)
	}
}

func TestErrorChallenge(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		in, status, scope string
		ok                bool
	}{
		{b64(`{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}`), "401", "https://mail.google.com/", true},
		{" " + b64(`{"status":"invalid_token"}`) + "\r\n", "invalid_token", "", true},
		{b64("not json"), "", "", false},
		{"not base64!", "", "", false},
	} {
		status, scope, ok := ErrorChallenge(tc.in)
		if status != tc.status || scope != tc.scope || ok != tc.ok {
			t.Errorf("ErrorChallenge(%q) = %q, %q, %v; want %q, %q, %v", tc.in, status, scope, ok, tc.status, tc.scope, tc.ok)
		}
	}
}
