package oauth

import (
	"encoding/base64"
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
