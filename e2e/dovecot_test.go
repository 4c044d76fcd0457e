package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mailbox users of the private Dovecot. Each test owns its users so that tests can run in
// parallel and delete mail without affecting one another.
const (
	userDirect    = "direct"    // full mailbox: Dovecot served directly
	userCurl      = "curl"      // full mailbox: curl
	userPoplib    = "poplib"    // full mailbox: Python poplib
	userProxied   = "proxied"   // full mailbox: curl through HAProxy and popwire, with the PROXY protocol
	userScaleCurl = "scalecurl" // full mailbox: curl through HAProxy and two popwires
	userScalePop  = "scalepop"  // full mailbox: poplib through HAProxy and two popwires
	userScaleFM   = "scalefm"   // full mailbox: fetchmail --keep through HAProxy and two popwires
	userFetchmail = "fetchmail" // full mailbox: fetchmail --keep
	userSTLS      = "stls"      // small mailbox: popwire's upstream in STLS mode
	userCommit    = "commit"    // small mailbox: fetchmail retrieves and deletes
	userKilled    = "killed"    // small mailbox: client killed after DELE
	userBeside    = "beside"    // small mailbox: fetchmail --keep beside another fetchmail
	userWrongCA   = "wrongca"   // small mailbox: never reached
	userKeyLog    = "keylog"    // small mailbox: a session captured and decrypted with --keylog
	userPcap      = "pcap"      // small mailbox: sessions exported with --pcap
	userReload    = "reload"    // small mailbox: sessions across a reload of serve --config
	userMetrics   = "metrics"   // small mailbox: a session counted in --metrics
	userDrain     = "drain"     // small mailbox: a session that runs to its end while popwire drains
	userDrainDele = "draindele" // small mailbox: DELE without QUIT, cut at the end of a drain
	userDrainHeld = "drainheld" // small mailbox: a session held through HAProxy while its popwire drains
	userScaleDele = "scaledele" // small mailbox: DELE without QUIT through HAProxy, cut at the end of a drain
)

var fullUsers = []string{userDirect, userCurl, userPoplib, userFetchmail, userProxied, userScaleCurl, userScalePop, userScaleFM}
var smallUsers = []string{userSTLS, userCommit, userKilled, userBeside, userKeyLog, userPcap, userReload, userMetrics, userDrain, userDrainDele, userDrainHeld, userScaleDele}

// password returns the POP3 password of a test user; it contains a space and
// punctuation so that clients must quote it (a colon would break the passwd-file).
func password(name string) string { return "pw-" + name + " S3cr3t!%" }

// dovecot is a private Dovecot instance on loopback, configured under dir.
type dovecot struct {
	dir       string
	conf      string
	logPath   string
	plainPort int // plaintext, offers STLS
	tlsPort   int // implicit TLS
	// proxiedPort is implicit TLS after a PROXY header (haproxy = yes), which only
	// haproxy_trusted_networks (loopback) may send: the client's address for Dovecot.
	proxiedPort int
	ca          *testCA
	wrongCA     *testCA // a CA that did not sign the server certificate
	full        []message
	small       []message
	proc        *process

	// fullUsers and smallUsers own the Maildirs that hold the full and the small mailbox.
	fullUsers, smallUsers []string
	// auth is the authentication part of dovecot.conf (auth_mechanisms, passdb, auth
	// logging); "" means the passwd-file passdb with password(u) for every user.
	auth string
}

// dovecotInstance returns the run's Dovecot, starting it on first use, or skips/fails t.
func dovecotInstance(t *testing.T) *dovecot {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/dovecot"); err != nil {
		if _, err := exec.LookPath("dovecot"); err != nil {
			missing(t, "dovecot (Debian dovecot-core, dovecot-pop3d) not installed")
		}
	}
	suite.dovecotOnce.Do(func() {
		d := &dovecot{dir: filepath.Join(suite.root, "dovecot"), fullUsers: fullUsers, smallUsers: smallUsers}
		suite.dovecotErr = d.start()
		suite.dovecot = d
		if suite.dovecotErr != nil {
			suite.dovecotErr = fmt.Errorf("%w\n--- Dovecot log ---\n%s", suite.dovecotErr, d.logText())
		}
	})
	if suite.dovecotErr != nil {
		t.Fatal(suite.dovecotErr)
	}
	return suite.dovecot
}

func dovecotBinary() string {
	if _, err := os.Stat("/usr/sbin/dovecot"); err == nil {
		return "/usr/sbin/dovecot"
	}
	return "dovecot"
}

func (d *dovecot) start() error {
	for _, sub := range []string{"run", "state", "mail", "store"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return fmt.Errorf("e2e: %w", err)
		}
	}
	d.logPath = filepath.Join(d.dir, "dovecot.log")
	var err error
	if d.ca, err = newTestCA(d.dir, "ca", "popwire e2e CA"); err != nil {
		return err
	}
	if d.wrongCA, err = newTestCA(d.dir, "wrong-ca", "popwire e2e unrelated CA"); err != nil {
		return err
	}
	certPath, keyPath, err := d.ca.issueServer(d.dir, "server")
	if err != nil {
		return err
	}
	if d.plainPort, err = freePort(); err != nil {
		return err
	}
	if d.tlsPort, err = freePort(); err != nil {
		return err
	}
	if d.proxiedPort, err = freePort(); err != nil {
		return err
	}
	ids, err := mailIdentity()
	if err != nil {
		return err
	}
	d.full, d.small = fullMailbox(), smallMailbox()
	if err := d.writeMailboxes(ids); err != nil {
		return err
	}
	if d.auth == "" {
		var passwd strings.Builder
		for _, u := range append(append([]string{}, d.fullUsers...), d.smallUsers...) {
			fmt.Fprintf(&passwd, "%s:{PLAIN}%s::::::\n", u, password(u))
		}
		passwdPath := filepath.Join(d.dir, "passwd")
		if err := os.WriteFile(passwdPath, []byte(passwd.String()), 0o644); err != nil {
			return fmt.Errorf("e2e: %w", err)
		}
		d.auth = passwdAuth(passwdPath)
	}
	d.conf = filepath.Join(d.dir, "dovecot.conf")
	if err := os.WriteFile(d.conf, []byte(d.config(ids, certPath, keyPath)), 0o644); err != nil {
		return fmt.Errorf("e2e: %w", err)
	}
	stderr, err := os.Create(filepath.Join(d.dir, "dovecot.stderr"))
	if err != nil {
		return fmt.Errorf("e2e: %w", err)
	}
	defer stderr.Close()
	cmd := exec.Command(dovecotBinary(), "-F", "-c", d.conf)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if d.proc, err = startProcess(cmd); err != nil {
		return err
	}
	alive := func() bool { return !d.proc.exited() }
	for _, port := range []int{d.plainPort, d.tlsPort, d.proxiedPort} {
		if err := waitPort(loopback(port), 20*time.Second, alive); err != nil {
			return err
		}
	}
	return nil
}

// identity names the system users Dovecot runs as and stores mail as.
type identity struct {
	uid, gid            int
	loginUser, internal string // default_login_user, default_internal_user
}

// mailIdentity picks nobody/nogroup when running as root (Dovecot refuses uid 0 for mail
// access) and the current user otherwise.
func mailIdentity() (identity, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return identity{}, fmt.Errorf("e2e: current user: %w", err)
		}
		return identity{uid: os.Geteuid(), gid: os.Getegid(), loginUser: u.Username, internal: u.Username}, nil
	}
	id := identity{uid: 65534, gid: 65534, loginUser: "dovenull", internal: "dovecot"}
	if u, err := user.Lookup("nobody"); err == nil {
		id.uid, _ = strconv.Atoi(u.Uid)
	}
	if g, err := user.LookupGroup("nogroup"); err == nil {
		id.gid, _ = strconv.Atoi(g.Gid)
	}
	return id, nil
}

// writeMailboxes stores the full mailbox once and hard-links it into each full user's Maildir
// (read-only tests), and gives each small user its own copies (tests that delete).
func (d *dovecot) writeMailboxes(id identity) error {
	store := filepath.Join(d.dir, "store")
	for i, m := range d.full {
		if err := os.WriteFile(filepath.Join(store, maildirName(i)), m.Data, 0o644); err != nil {
			return fmt.Errorf("e2e: %w", err)
		}
	}
	for _, u := range append(append([]string{}, d.fullUsers...), d.smallUsers...) {
		cur := filepath.Join(d.maildir(u), "cur")
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(d.maildir(u), sub), 0o700); err != nil {
				return fmt.Errorf("e2e: %w", err)
			}
		}
		if contains(d.fullUsers, u) {
			for i := range d.full {
				if err := os.Link(filepath.Join(store, maildirName(i)), filepath.Join(cur, maildirName(i))); err != nil {
					return fmt.Errorf("e2e: %w", err)
				}
			}
		} else {
			for i, m := range d.small {
				if err := os.WriteFile(filepath.Join(cur, maildirName(i)), m.Data, 0o600); err != nil {
					return fmt.Errorf("e2e: %w", err)
				}
			}
		}
		if err := chownTree(filepath.Join(d.dir, "mail", u), id.uid, id.gid); err != nil {
			return err
		}
	}
	return nil
}

// refillSmall gives user u the small mailbox again when an earlier run of a test in this
// binary (go test -count=N) committed its deletion, so that tests that delete can repeat.
func (d *dovecot) refillSmall(t *testing.T, u string) {
	t.Helper()
	if d.storedCount(t, u) > 0 {
		return
	}
	id, err := mailIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(d.maildir(u), "cur")
	for i, m := range d.small {
		// A new name: Dovecot gives the files new UIDs instead of reusing expunged ones.
		name := fmt.Sprintf("%d.M%dP%d.popwire:2,S", 1700000000+i, i, time.Now().UnixNano())
		if err := os.WriteFile(filepath.Join(cur, name), m.Data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := chownTree(filepath.Join(d.dir, "mail", u), id.uid, id.gid); err != nil {
		t.Fatal(err)
	}
}

// maildirName is the file name of the i-th message; names sort in mailbox order.
func maildirName(i int) string {
	return fmt.Sprintf("%d.M%dP1.popwire:2,S", 1700000000+i, i)
}

// maildir returns the Maildir of a user.
func (d *dovecot) maildir(u string) string { return filepath.Join(d.dir, "mail", u, "Maildir") }

// storedCount returns how many messages a user's Maildir holds.
func (d *dovecot) storedCount(t *testing.T, u string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(d.maildir(u), sub))
		if err != nil {
			t.Fatalf("e2e: %v", err)
		}
		n += len(entries)
	}
	return n
}

func chownTree(root string, uid, gid int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return fmt.Errorf("e2e: chown: %w", err)
		}
		return nil
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// passwdAuth is the authentication part of dovecot.conf for a passwd-file passdb.
func passwdAuth(passwdPath string) string {
	return fmt.Sprintf(`auth_mechanisms = plain login cram-md5
auth_verbose = yes
passdb {
  driver = passwd-file
  args = scheme=PLAIN %s
}
`, passwdPath)
}

// config renders dovecot.conf for this instance.
func (d *dovecot) config(id identity, certPath, keyPath string) string {
	dh := ""
	if _, err := os.Stat("/usr/share/dovecot/dh.pem"); err == nil {
		dh = "ssl_dh = </usr/share/dovecot/dh.pem\n"
	}
	return fmt.Sprintf(`# private Dovecot for popwire's end-to-end tests
instance_name = popwire-e2e-%[1]s
base_dir = %[2]s/run
state_dir = %[2]s/state
log_path = %[3]s
info_log_path = %[3]s
protocols = pop3
listen = 127.0.0.1
haproxy_trusted_networks = 127.0.0.0/8
default_login_user = %[4]s
default_internal_user = %[5]s
first_valid_uid = 1
first_valid_gid = 1
ssl = yes
ssl_cert = <%[6]s
ssl_key = <%[7]s
ssl_min_protocol = TLSv1.2
%[8]sdisable_plaintext_auth = no
auth_failure_delay = 0
%[9]sdefault_process_limit = 200
default_client_limit = 2000
userdb {
  driver = static
  args = uid=%[10]d gid=%[11]d home=%[2]s/mail/%%u
}
mail_location = maildir:~/Maildir
service pop3-login {
  inet_listener pop3 {
    port = %[12]d
  }
  inet_listener pop3s {
    port = %[13]d
    ssl = yes
  }
  inet_listener pop3s-proxied {
    port = %[14]d
    ssl = yes
    haproxy = yes
  }
}
protocol pop3 {
  mail_max_userip_connections = 100
}
`, fmt.Sprintf("%d-%s", os.Getpid(), filepath.Base(d.dir)), d.dir, d.logPath, id.loginUser, id.internal, certPath, keyPath, dh, d.auth,
		id.uid, id.gid, d.plainPort, d.tlsPort, d.proxiedPort)
}

// stop ends Dovecot with SIGTERM (its master stops every child) and waits for it.
func (d *dovecot) stop() error {
	if d.proc == nil {
		return nil
	}
	err, killed := d.proc.stop(syscall.SIGTERM, 15*time.Second)
	if killed {
		return fmt.Errorf("e2e: dovecot did not stop on SIGTERM and was killed")
	}
	if err != nil {
		return fmt.Errorf("e2e: dovecot exit: %w", err)
	}
	return nil
}

// logText returns Dovecot's log and the output of its master process.
func (d *dovecot) logText() string {
	var b strings.Builder
	for _, p := range []string{d.logPath, filepath.Join(d.dir, "dovecot.stderr")} {
		if data, err := os.ReadFile(p); err == nil {
			b.Write(data)
		}
	}
	return b.String()
}
