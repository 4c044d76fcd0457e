package main

import (
	"cmp"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/config"
	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/proxy"
)

// userKeyFile is the name, in the local certificate's directory, of the HMAC key that
// --hide-users uses, so that a user's hash is the same across runs.
const userKeyFile = "user-hash.key"

// logFlags are the logging flags of serve and demo.
func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-file", EnvVars: []string{"POPWIRE_LOG_FILE"},
			Usage: "append JSON lines (one event per line) to `FILE`, created with mode 0600; SIGHUP reopens it"},
		&cli.StringFlag{Name: "log-overflow", Value: string(logview.OverflowDrop), EnvVars: []string{"POPWIRE_LOG_OVERFLOW"},
			Usage: "when the disk cannot keep up with --log-file: drop (sessions never wait; lost events are counted, in the file and on stderr) | block (sessions wait for the disk: nothing is lost, but a stalled disk stalls every session)"},
		&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"POPWIRE_LOG_FORMAT"},
			Usage: "what goes to stderr: text (the transcript) | json (JSON lines) | none"},
		&cli.StringFlag{Name: "color", Value: "auto", EnvVars: []string{"POPWIRE_COLOR"},
			Usage: "colour of the stderr transcript: auto (only on a terminal; NO_COLOR is honoured) | always | never"},
		transcriptFlag(),
		&cli.StringFlag{Name: "bodies", Value: string(proxy.BodiesHeaders), EnvVars: []string{"POPWIRE_BODIES"},
			Usage: "what is kept of RETR/TOP content: none (sizes) | headers (SHA-256, From, To, Subject, Date, Message-ID) | full (also the message itself, in the JSON log, and in the transcript at --transcript full)"},
		&cli.StringFlag{Name: "bodies-budget", Value: fmt.Sprintf("%dMiB", proxy.DefaultContentBudget>>20), EnvVars: []string{"POPWIRE_BODIES_BUDGET"},
			Usage: "with --bodies full, the most message content all sessions hold at once (`SIZE`, e.g. 256MiB); beyond it a message's content is left out, and its event says so"},
		&cli.BoolFlag{Name: "hide-users", EnvVars: []string{"POPWIRE_HIDE_USERS"},
			Usage: "replace user names in every log with a stable keyed hash (the key is kept next to the local CA)"},
		&cli.BoolFlag{Name: "reveal-credentials", EnvVars: []string{"POPWIRE_REVEAL_CREDENTIALS"},
			Usage: "log passwords and SASL secrets in clear, to debug your own account; every such event is marked"},
		&cli.StringFlag{Name: "keylog", EnvVars: []string{"POPWIRE_KEYLOG"},
			Usage: "append the TLS secrets of both legs to `FILE` (NSS key log format, mode 0600), to decrypt a capture with Wireshark; anyone with the file can read the sessions"},
		&cli.StringFlag{Name: "pcap", EnvVars: []string{"POPWIRE_PCAP"},
			Usage: "append the decrypted sessions to `FILE` as a pcapng capture for Wireshark (both legs, credentials redacted as in the log; message content only with --bodies full), mode 0600; SIGHUP reopens it"},
	}
}

// transcriptFlag is the --transcript flag of serve, demo and view.
func transcriptFlag() cli.Flag {
	return &cli.StringFlag{Name: "transcript", Value: string(logview.LevelReplies), EnvVars: []string{"POPWIRE_TRANSCRIPT"},
		Usage: "how much of each multi-line reply the transcript shows: summary (lines and size) | replies (CAPA, AUTH and LANG whole, the first lines of LIST, UIDL and the others) | full (every line, and the message text logged with --bodies full)"}
}

// transcriptLevel reads --transcript.
func transcriptLevel(c *cli.Context) (logview.Level, error) {
	level, err := logview.ParseLevel(c.String("transcript"))
	if err != nil {
		return "", usagef("--transcript must be summary, replies or full (got %q)", c.String("transcript"))
	}
	return level, nil
}

// logOptions turns the logging flags into the proxy's LogOptions.
func logOptions(c *cli.Context) (proxy.LogOptions, error) {
	level, err := transcriptLevel(c)
	if err != nil {
		return proxy.LogOptions{}, err
	}
	opts := proxy.LogOptions{
		Bodies:            proxy.Bodies(c.String("bodies")),
		HideUsers:         c.Bool("hide-users"),
		RevealCredentials: c.Bool("reveal-credentials"),
		// Only JSON, the pcapng capture and the transcript above its summary level show the lines
		// of a reply.
		SkipReplyLines: level == logview.LevelSummary && c.String("log-file") == "" && c.String("log-format") != "json" &&
			c.String("pcap") == "",
	}
	switch opts.Bodies {
	case proxy.BodiesNone, proxy.BodiesHeaders, proxy.BodiesFull:
	default:
		return opts, usagef("--bodies must be none, headers or full (got %q)", opts.Bodies)
	}
	budget, err := config.ParseSize(c.String("bodies-budget"))
	switch {
	case err != nil:
		return opts, usagef("--bodies-budget: %v", err)
	case budget < 1<<20:
		return opts, usagef("--bodies-budget must be at least 1MiB (got %q)", c.String("bodies-budget"))
	}
	opts.ContentBudget = budget
	if opts.HideUsers && opts.RevealCredentials {
		return opts, usagef("--hide-users and --reveal-credentials contradict each other")
	}
	if opts.HideUsers {
		if opts.UserKey, err = userHashKey(); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// userHashKey returns the key of --hide-users, kept next to the local CA (created on first use).
func userHashKey() ([]byte, error) {
	dir, err := proxy.DefaultCertDir()
	if err != nil {
		return nil, err
	}
	return loadOrCreateKey(filepath.Join(dir, userKeyFile))
}

// loadOrCreateKey reads a 32-byte key from path, creating it (mode 0600, directory 0700) on
// first use.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the user-hash key: %w", err)
	}
	if err == nil {
		return nil, fmt.Errorf("user-hash key %s: want 32 bytes, found %d", path, len(key))
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the user-hash key: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("creating the user-hash key: %w", err)
	}
	return key, nil
}

// withSharedFlags returns cfg with what the flags serve and demo share say: --deny, the
// client-leg certificate (--cert/--key; demo, which has neither, gets the local certificate)
// and the log flags.
func withSharedFlags(c *cli.Context, cfg proxy.Config) (proxy.Config, error) {
	deny, err := parseDeny(c.StringSlice("deny"))
	if err != nil {
		return proxy.Config{}, err
	}
	cert, err := localCertificate(c)
	if err != nil {
		return proxy.Config{}, err
	}
	logOpts, err := logOptions(c)
	if err != nil {
		return proxy.Config{}, err
	}
	cfg.Deny, cfg.Certificate, cfg.Log = deny, cert, logOpts
	return cfg, nil
}

// parseDeny turns --deny values (each CMD[,CMD]) into upper-case command keywords.
func parseDeny(values []string) ([]string, error) {
	deny, err := proxy.ParseDeny(values)
	if err != nil {
		return nil, usagef("--deny: %w", err)
	}
	return deny, nil
}

// noArguments refuses the arguments of a command that takes none (serve, demo and cert).
func noArguments(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("%s takes no arguments (got %q)", c.Command.Name, c.Args().First())
	}
	return nil
}

// passwordEnv names the environment variable that supplies the POP3 password to probe and
// shell, so that it never appears on a command line.
const passwordEnv = "POPWIRE_PASSWORD"

// serverFlags are the flags probe and shell share to reach and verify a POP3 server, and to
// colour their output; skipVerify explains --insecure-skip-verify for the command.
func serverFlags(skipVerify string) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "upstream-ca", Usage: "extra PEM root certificates to trust (added to the system roots)"},
		&cli.StringFlag{Name: "upstream-name", Usage: "SNI and certificate name to check (default: the HOST)"},
		&cli.BoolFlag{Name: "insecure-skip-verify", Usage: skipVerify},
		&cli.StringFlag{Name: "color", Value: "auto", EnvVars: []string{"POPWIRE_COLOR"}, Usage: "colour: auto, always or never"},
	}
}

// oneServer refuses more arguments than the one HOST:PORT that probe and shell take.
func oneServer(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef("%s takes at most one HOST:PORT (got %d arguments)", c.Command.Name, c.NArg())
	}
	return nil
}

// serverOptions reads serverFlags: the roots to verify the server with, and whether stdout
// gets colour.
func serverOptions(c *cli.Context) (*x509.CertPool, bool, error) {
	colour, err := colorFlag(c, c.App.Writer)
	if err != nil {
		return nil, false, err
	}
	roots, err := popclient.LoadRoots(c.StringSlice("upstream-ca")...)
	if err != nil {
		return nil, false, usagef("%v", err)
	}
	return roots, colour, nil
}

// colorFlag decides from --color whether w (stdout or stderr) gets colour.
func colorFlag(c *cli.Context, w io.Writer) (bool, error) {
	mode, err := logview.ParseColorMode(c.String("color"))
	if err != nil {
		return false, usagef("--color: %v", err)
	}
	f, _ := w.(*os.File)
	return logview.UseColor(mode, f, os.Getenv), nil
}

// oauthFlags are the flags that describe an OAuth provider to auth login: oauthRefreshFlags,
// which serve and probe share, and the endpoints and scopes only an authorisation uses.
func oauthFlags() []cli.Flag {
	return append(oauthRefreshFlags(),
		&cli.StringFlag{Name: "oauth-auth-url", EnvVars: []string{"POPWIRE_OAUTH_AUTH_URL"},
			Usage: "the authorization endpoint (loopback flow); for a custom provider, or to override a built-in one's"},
		&cli.StringFlag{Name: "oauth-device-url", EnvVars: []string{"POPWIRE_OAUTH_DEVICE_URL"},
			Usage: "the device authorization endpoint (RFC 8628, device flow)"},
		&cli.StringFlag{Name: "oauth-revoke-url", EnvVars: []string{"POPWIRE_OAUTH_REVOKE_URL"},
			Usage: "the revocation endpoint (RFC 7009) that auth logout calls"},
		&cli.StringSliceFlag{Name: "oauth-scope", EnvVars: []string{"POPWIRE_OAUTH_SCOPE"},
			Usage: "a scope to ask for, instead of the provider's defaults (repeat the flag, or separate with spaces)"},
	)
}

// oauthRefreshFlags are the provider flags that matter after auth login, when serve and probe
// refresh an account's token: they replace what the account's file recorded.
func oauthRefreshFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "oauth-client-id", EnvVars: []string{"POPWIRE_OAUTH_CLIENT_ID"},
			Usage: "the OAuth client ID you registered with the provider (popwire ships none; see the README)"},
		&cli.StringFlag{Name: "oauth-client-secret", EnvVars: []string{"POPWIRE_OAUTH_CLIENT_SECRET"},
			Usage: "the client's secret, if the provider gave one (Google does for desktop apps); better set in the environment, since flags show in ps"},
		&cli.StringFlag{Name: "oauth-tenant", EnvVars: []string{"POPWIRE_OAUTH_TENANT"},
			Usage: "for microsoft, the authority: consumers (personal accounts, the default) | organizations (work or school) | common (both) | a tenant ID or domain"},
		&cli.StringFlag{Name: "oauth-token-url", EnvVars: []string{"POPWIRE_OAUTH_TOKEN_URL"},
			Usage: "the token endpoint; required for a custom provider"},
		&cli.StringFlag{Name: "oauth-mechanism", EnvVars: []string{"POPWIRE_OAUTH_MECHANISM"},
			Usage: "the SASL mechanism the POP3 server wants: xoauth2 (default, Google and Microsoft) | oauthbearer (RFC 7628)"},
	}
}

// providerNameRE is what the name of a custom provider may be: it is recorded in token files
// and shown by auth list.
var providerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// namedProvider returns the built-in provider name, for microsoft with --oauth-tenant, or a
// Provider with only the Name of a custom one (builtin false). A name that cannot be a
// provider's is refused with the sentence badName, and --oauth-tenant with any provider but
// microsoft.
func namedProvider(c *cli.Context, name, badName string) (p oauth.Provider, builtin bool, err error) {
	p, builtin, err = oauth.Builtin(name, c.String("oauth-tenant"))
	switch {
	case err != nil:
		return oauth.Provider{}, builtin, usagef("%v", err)
	case builtin:
		return p, true, nil
	case !providerNameRE.MatchString(name):
		return oauth.Provider{}, false, usagef("%s", badName)
	case c.String("oauth-tenant") != "":
		return oauth.Provider{}, false, usagef("--oauth-tenant is for microsoft, not %s", name)
	}
	return oauth.Provider{Name: name}, false, nil
}

// oauthProviderFromFlags returns the provider name (google, microsoft, or a custom one
// described entirely by the endpoint flags) as oauthFlags adjust it.
func oauthProviderFromFlags(c *cli.Context, name string) (oauth.Provider, error) {
	p, builtin, err := namedProvider(c, name,
		fmt.Sprintf("provider %q: use google, microsoft, or a name of lower-case letters, digits, '.', '_' and '-' with --oauth-token-url", name))
	if err != nil {
		return oauth.Provider{}, err
	}
	p.AuthURL, p.TokenURL = cmp.Or(c.String("oauth-auth-url"), p.AuthURL), cmp.Or(c.String("oauth-token-url"), p.TokenURL)
	p.DeviceURL, p.RevocationURL = cmp.Or(c.String("oauth-device-url"), p.DeviceURL), cmp.Or(c.String("oauth-revoke-url"), p.RevocationURL)
	p.ClientID, p.ClientSecret = c.String("oauth-client-id"), c.String("oauth-client-secret")
	if scopes := c.StringSlice("oauth-scope"); len(scopes) > 0 {
		p.Scopes = strings.Fields(strings.Join(scopes, " "))
	}
	if m := c.String("oauth-mechanism"); m != "" {
		if p.Mechanism, err = oauth.ParseMechanism(m); err != nil {
			return oauth.Provider{}, usagef("--oauth-mechanism: %v", err)
		}
	}
	if !builtin {
		switch {
		case p.AuthURL == "" && p.DeviceURL == "":
			return oauth.Provider{}, usagef("provider %s needs --oauth-auth-url (loopback flow) or --oauth-device-url (device flow)", name)
		case p.AuthURL == "":
			p.Flow = oauth.FlowDevice
		default:
			p.Flow = oauth.FlowLoopback
		}
	}
	if err := p.Check(); err != nil {
		return oauth.Provider{}, usagef("%v", err)
	}
	return p, nil
}

// oauthFlag is --oauth of serve and probe: the provider whose stored tokens log in upstream.
func oauthFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "oauth", EnvVars: []string{"POPWIRE_OAUTH"}, Usage: usage}
}

// oauthBridge returns the token source and mechanism that --oauth PROVIDER asks for: the
// accounts authorised with popwire auth login for that provider, each refreshed with what
// its file records, unless --oauth-token-url (or, for microsoft, --oauth-tenant),
// --oauth-client-id or --oauth-client-secret say otherwise (oauthRefreshFlags). The
// mechanism is --oauth-mechanism's, or nil without it: each account logs in with the one it
// was authorised for at auth login. Without --oauth it returns nil and refuses a provider
// flag that would then do nothing.
func oauthBridge(c *cli.Context) (*oauth.Tokens, *oauth.Mechanism, error) {
	name := c.String("oauth")
	if name == "" {
		for _, f := range oauthRefreshFlags() {
			if n := f.Names()[0]; c.IsSet(n) {
				return nil, nil, usagef("--%s needs --oauth PROVIDER", n)
			}
		}
		return nil, nil, nil
	}
	p, _, err := namedProvider(c, name, fmt.Sprintf("--oauth %q: use google, microsoft, or the name of a custom provider given to popwire auth login", name))
	if err != nil {
		return nil, nil, err
	}
	serving := &oauth.Provider{Name: p.Name, TokenURL: c.String("oauth-token-url"),
		ClientID: c.String("oauth-client-id"), ClientSecret: c.String("oauth-client-secret")}
	if serving.TokenURL == "" && c.String("oauth-tenant") != "" {
		serving.TokenURL = p.TokenURL // the tenant's token endpoint
	}
	var mech *oauth.Mechanism // each account's own
	if m := c.String("oauth-mechanism"); m != "" {
		parsed, err := oauth.ParseMechanism(m)
		if err != nil {
			return nil, nil, usagef("--oauth-mechanism: %v", err)
		}
		mech = &parsed
	}
	store, err := defaultStore()
	if err != nil {
		return nil, nil, err
	}
	return &oauth.Tokens{Store: store, Provider: serving}, mech, nil
}

// defaultStore is the token store in the config directory, $XDG_CONFIG_HOME/popwire/accounts.
func defaultStore() (*oauth.Store, error) {
	dir, err := oauth.DefaultDir()
	if err != nil {
		return nil, err
	}
	return &oauth.Store{Dir: dir}, nil
}
