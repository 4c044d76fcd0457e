package oauth

import (
	"strings"
	"testing"
)

func TestBuiltinProviders(t *testing.T) {
	g, ok, err := Builtin("google", "")
	if !ok || err != nil || g.Flow != FlowLoopback || g.DeviceURL != "" || g.RevocationURL != "https://oauth2.googleapis.com/revoke" ||
		strings.Join(g.Scopes, " ") != "https://mail.google.com/" || g.ClientID != "" {
		t.Fatalf("google: %+v %v %v", g, ok, err)
	}
	m, ok, err := Builtin("Microsoft", "")
	if !ok || err != nil || m.Flow != FlowDevice || m.Tenant != "consumers" || m.RevocationURL != "" ||
		m.DeviceURL != "https://login.microsoftonline.com/consumers/oauth2/v2.0/devicecode" ||
		strings.Join(m.Scopes, " ") != "https://outlook.office.com/POP.AccessAsUser.All offline_access" {
		t.Fatalf("microsoft: %+v %v %v", m, ok, err)
	}
	for _, tenant := range []string{"organizations", "common", "9188040d-6c67-4c5b-b112-36a304b66dad", "contoso.onmicrosoft.com"} {
		m, _, err := Builtin("microsoft", tenant)
		if err != nil || !strings.HasPrefix(m.TokenURL, "https://login.microsoftonline.com/"+tenant+"/oauth2/v2.0/token") {
			t.Errorf("tenant %s: %v %s", tenant, err, m.TokenURL)
		}
	}
	for _, tenant := range []string{"../x", "a/b", "a?b", "-x"} {
		if _, _, err := Builtin("microsoft", tenant); err == nil {
			t.Errorf("tenant %q was accepted", tenant)
		}
	}
	if _, _, err := Builtin("google", "consumers"); err == nil {
		t.Error("a tenant for google was accepted")
	}
	if _, ok, _ := Builtin("corp", ""); ok {
		t.Error("corp is not built in")
	}
	if err := g.Check(); err == nil || !strings.Contains(err.Error(), "--oauth-client-id") || !strings.Contains(err.Error(), "README") {
		t.Errorf("google without a client ID: %v", err)
	}
	g.ClientID = "x"
	if err := g.Check(); err != nil {
		t.Error(err)
	}
	for _, u := range []string{"file:///etc/passwd", "http://oauth.example.com/token", "http://10.0.0.1/token", "https:///token", "token"} {
		g.TokenURL = u
		if err := g.Check(); err == nil {
			t.Errorf("token URL %s was accepted", u)
		}
	}
	for _, u := range []string{"https://oauth.example.com/token", "http://127.0.0.1:8080/token", "http://[::1]:80/t", "http://localhost/t"} {
		g.TokenURL = u
		if err := g.Check(); err != nil {
			t.Errorf("token URL %s: %v", u, err)
		}
	}
}

func TestParseFlowAndMechanism(t *testing.T) {
	if f, err := ParseFlow("Device"); err != nil || f != FlowDevice {
		t.Error(f, err)
	}
	if _, err := ParseFlow("pigeon"); err == nil {
		t.Error("pigeon")
	}
	if m, err := ParseMechanism("OAUTHBEARER"); err != nil || m != OAUTHBEARER {
		t.Error(m, err)
	}
	if _, err := ParseMechanism("plain"); err == nil {
		t.Error("plain")
	}
}
