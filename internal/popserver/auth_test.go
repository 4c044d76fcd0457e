package popserver

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAPOP(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		secret string
		digest func(stamp, secret string) string
		want   string
	}{
		{"right digest", "demo", testPassword, apopDigest, "+OK Logged in."},
		{"wrong password", "demo", "nope", apopDigest, "-ERR [AUTH] Authentication failed."},
		{"unknown user", "nobody", testPassword, apopDigest, "-ERR [AUTH] Authentication failed."},
		{"upper-case hex", "demo", testPassword, func(st, s string) string { return strings.ToUpper(apopDigest(st, s)) },
			"-ERR [AUTH] Authentication failed."},
		{"short digest", "demo", testPassword, func(string, string) string { return "abc" }, "-ERR Invalid APOP arguments."},
	}
	stampRE := regexp.MustCompile(`<[^>]+>`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, logs := newTestServer(t)
			c, greeting := dial(t, serve(t, srv, false), false)
			stamp := stampRE.FindString(greeting)
			digest := tt.digest(stamp, tt.secret)
			c.run([]exchange{{cmd: "APOP " + tt.user + " " + digest, reply: tt.want}})
			if strings.Contains(logs.String(), digest) {
				t.Errorf("the APOP digest reached the log:\n%s", logs)
			}
		})
	}
	srv, _ := newTestServer(t)
	c, _ := dial(t, serve(t, srv, false), false)
	c.run([]exchange{{cmd: "APOP demo", reply: "-ERR Invalid APOP arguments."}})
}

// apopDigest is RFC 1939 §7's MD5(timestamp ‖ secret) in lower-case hex.
func apopDigest(stamp, secret string) string {
	sum := md5.Sum([]byte(stamp + secret))
	return hex.EncodeToString(sum[:])
}

func TestSASL(t *testing.T) {
	plain := b64("\x00demo\x00" + testPassword)
	tests := []struct {
		name  string
		steps []exchange
	}{
		{"bare AUTH lists mechanisms", []exchange{{cmd: "AUTH", reply: "+OK", body: []string{"PLAIN", "LOGIN", "CRAM-MD5"}}}},
		{"PLAIN with initial response", []exchange{{cmd: "AUTH PLAIN " + plain, reply: "+OK Logged in."}}},
		{"PLAIN lower-case mechanism", []exchange{{cmd: "AUTH plain " + plain, reply: "+OK Logged in."}}},
		{"PLAIN after a challenge", []exchange{{cmd: "AUTH PLAIN", reply: "+ "}, {cmd: plain, reply: "+OK Logged in."}}},
		{"PLAIN with authzid equal to authcid", []exchange{
			{cmd: "AUTH PLAIN " + b64("demo\x00demo\x00"+testPassword), reply: "+OK Logged in."}}},
		{"PLAIN with foreign authzid", []exchange{
			{cmd: "AUTH PLAIN " + b64("bob\x00demo\x00"+testPassword), reply: "-ERR [AUTH] Authentication failed."}}},
		{"PLAIN wrong password", []exchange{
			{cmd: "AUTH PLAIN " + b64("\x00demo\x00wrong"), reply: "-ERR [AUTH] Authentication failed."}}},
		{"PLAIN malformed", []exchange{{cmd: "AUTH PLAIN " + b64("demo"), reply: "-ERR [AUTH] Authentication failed."}}},
		{"PLAIN empty initial response", []exchange{{cmd: "AUTH PLAIN =", reply: "-ERR [AUTH] Authentication failed."}}},
		{"PLAIN cancelled", []exchange{{cmd: "AUTH PLAIN", reply: "+ "}, {cmd: "*", reply: "-ERR Authentication cancelled."},
			{cmd: "STAT", reply: "-ERR Not logged in."}}},
		{"PLAIN bad base64 answer", []exchange{{cmd: "AUTH PLAIN", reply: "+ "},
			{cmd: "not base64!", reply: "-ERR Invalid base64 data in continued response."}}},
		{"PLAIN bad base64 initial response", []exchange{
			{cmd: "AUTH PLAIN ZGVtbw", reply: "-ERR Invalid base64 data in initial response."}}},
		{"LOGIN", []exchange{{cmd: "AUTH LOGIN", reply: "+ VXNlcm5hbWU6"}, {cmd: b64("demo"), reply: "+ UGFzc3dvcmQ6"},
			{cmd: b64(testPassword), reply: "+OK Logged in."}, {cmd: "STAT", reply: "+OK 12 " + fmt.Sprint(sampleSize())}}},
		{"LOGIN with initial response", []exchange{{cmd: "AUTH LOGIN " + b64("demo"), reply: "+ UGFzc3dvcmQ6"},
			{cmd: b64(testPassword), reply: "+OK Logged in."}}},
		{"LOGIN wrong password", []exchange{{cmd: "AUTH LOGIN", reply: "+ VXNlcm5hbWU6"}, {cmd: b64("demo"), reply: "+ UGFzc3dvcmQ6"},
			{cmd: b64("wrong"), reply: "-ERR [AUTH] Authentication failed."}}},
		{"LOGIN cancelled at the password", []exchange{{cmd: "AUTH LOGIN", reply: "+ VXNlcm5hbWU6"},
			{cmd: b64("demo"), reply: "+ UGFzc3dvcmQ6"}, {cmd: "*", reply: "-ERR Authentication cancelled."},
			{cmd: "USER demo", reply: "+OK"}, {cmd: "PASS " + testPassword, reply: "+OK Logged in."}}},
		{"CRAM-MD5 refuses an initial response", []exchange{
			{cmd: "AUTH CRAM-MD5 " + b64("x"), reply: "-ERR CRAM-MD5 takes no initial response."}}},
		{"unsupported mechanism", []exchange{{cmd: "AUTH XOAUTH2", reply: "-ERR Unsupported authentication mechanism."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, logs := newTestServer(t)
			c, _ := dial(t, serve(t, srv, false), false)
			c.run(tt.steps)
			if strings.Contains(logs.String(), testPassword) {
				t.Errorf("the password reached the log:\n%s", logs)
			}
		})
	}
}

func TestSASLCRAMMD5(t *testing.T) {
	tests := []struct {
		name, secret, want string
	}{
		{"right secret", testPassword, "+OK Logged in."},
		{"wrong secret", "wrong", "-ERR [AUTH] Authentication failed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newTestServer(t)
			c, _ := dial(t, serve(t, srv, false), false)
			r := c.cmd("AUTH CRAM-MD5")
			challenge, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r, "+ "))
			if err != nil || !strings.HasPrefix(r, "+ ") || !regexp.MustCompile(`^<[^>]+@localhost>$`).Match(challenge) {
				t.Fatalf("challenge %q (%q, %v)", r, challenge, err)
			}
			mac := hmac.New(md5.New, []byte(tt.secret))
			mac.Write(challenge)
			c.run([]exchange{{cmd: b64("demo " + hex.EncodeToString(mac.Sum(nil))), reply: tt.want}})
		})
	}
}

func TestPipelinedSASLAnswer(t *testing.T) {
	srv, _ := newTestServer(t)
	c, _ := dial(t, serve(t, srv, false), false)
	c.send("AUTH PLAIN", b64("\x00demo\x00"+testPassword), "STAT")
	for _, want := range []string{"+ ", "+OK Logged in."} {
		if r := c.line(); r != want {
			t.Fatalf("got %q, want %q", r, want)
		}
	}
	if r := c.line(); !strings.HasPrefix(r, "+OK 12 ") {
		t.Errorf("STAT: %q", r)
	}
}
