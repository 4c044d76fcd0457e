package oauth

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// callback is what came back to the redirect URI: a code, or the provider's error.
type callback struct {
	code, err string
}

// loopback runs the installed-app flow (RFC 8252 §7.3, PKCE RFC 7636 with S256): a redirect
// to 127.0.0.1 on an ephemeral port, the state checked on what comes back there or is
// pasted on In.
func (l Login) loopback(ctx context.Context) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("oauth: no loopback port for the redirect: %w", err)
	}
	// No path: Microsoft matches a loopback redirect URI with its path, ignoring the port.
	redirect := "http://" + ln.Addr().String()
	cfg := l.Provider.config(redirect)
	verifier := oauth2.GenerateVerifier()
	state := rand.Text()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", l.Address)}
	if l.Provider.Name == "google" {
		// Google gives a refresh token only for offline access, and again only on consent.
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	authURL := cfg.AuthCodeURL(state, opts...)

	got := make(chan callback, 1)
	deliver := func(c callback) {
		select {
		case got <- c:
		default: // the first answer wins
		}
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: redirectHandler(state, deliver)}
	go serveRedirect(srv, ln)
	defer srv.Close()

	fmt.Fprintf(l.Out, "To authorise %s with %s, open this address in a browser and approve:\n\n  %s\n\n", l.Address, l.Provider.Name, authURL)
	opened := false
	if !l.NoBrowser {
		open := l.Browser
		if open == nil {
			open = OpenBrowser
		}
		opened = open(authURL) == nil
	}
	if opened {
		fmt.Fprintf(l.Out, "A browser was started; waiting for it to come back to %s\n", redirect)
	}
	if l.In != nil {
		fmt.Fprintf(l.Out, "If the browser runs on another machine, it ends on an address starting with %s that does not load: paste that whole address here and press Enter.\n", redirect)
		go readPasted(l.In, state, l.Out, deliver)
	}
	var c callback
	select {
	case c = <-got:
	case <-ctx.Done():
		return nil, &kindError{ErrUnreachable, fmt.Sprintf("oauth: no answer from the browser for %s in time: run popwire auth login %s again (with --no-browser to paste the address)", l.Address, l.Address)}
	}
	if c.err != "" {
		return nil, &kindError{ErrRefreshRefused, fmt.Sprintf("oauth: provider %s did not authorise %s (%s): run popwire auth login %s again and approve", l.Provider.Name, l.Address, c.err, l.Address)}
	}
	tok, err := cfg.Exchange(ctx, c.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, providerError(l.Provider, l.Address, "exchange the authorization code", err)
	}
	return tok, nil
}

// serveRedirect serves the redirect URI until the flow ends.
func serveRedirect(srv *http.Server, ln net.Listener) {
	_ = srv.Serve(ln)
}

// redirectHandler answers at the redirect URI: a request with the right state is delivered;
// one without is refused and the wait goes on (RFC 6749 §10.12).
func redirectHandler(state string, deliver func(callback)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := parseRedirect(r.URL.Query(), state)
		if err != nil {
			http.Error(w, "popwire: "+err.Error(), http.StatusBadRequest)
			return
		}
		deliver(c)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if c.err != "" {
			fmt.Fprintln(w, "popwire: the provider did not authorise the account; see the terminal.")
			return
		}
		fmt.Fprintln(w, "popwire: received. You can close this tab; the terminal says whether the authorisation succeeded.")
	})
}

// errState is a redirect whose state is not the request's.
var errState = errors.New("this answer is not for this login (its state differs)")

// parseRedirect reads the query the provider redirected with (RFC 6749 §4.1.2).
func parseRedirect(q url.Values, state string) (callback, error) {
	if q.Get("state") != state {
		return callback{}, errState
	}
	if e := q.Get("error"); e != "" {
		return callback{err: e}, nil
	}
	if q.Get("code") == "" {
		return callback{}, errors.New("the answer has neither a code nor an error")
	}
	return callback{code: q.Get("code")}, nil
}

// readPasted reads lines from in until one is a redirect address with the right state,
// telling out about each one that is not.
func readPasted(in io.Reader, state string, out io.Writer, deliver func(callback)) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		u, err := url.Parse(line)
		if err != nil {
			// url.Parse's error quotes the line, which may hold a code.
			fmt.Fprintln(out, "That is not an address; paste the whole address the browser was sent to.")
			continue
		}
		c, err := parseRedirect(u.Query(), state)
		if err != nil {
			fmt.Fprintf(out, "That is not the address the browser was sent to: %v. Paste it again.\n", err)
			continue
		}
		deliver(c)
		return
	}
}
