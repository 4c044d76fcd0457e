package proxy

import (
	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
)

// count counts one frame in the route's metrics (commands, replies, logins) and notes the +OK
// to QUIT, with or without a sink: it takes no lock, the counters are atomic.
func (r *recorder) count(f *codec.Frame, leg logview.Leg) {
	switch f.Kind {
	case codec.FrameCommand:
		r.stats.Command(f.Cmd.Verb)
	case codec.FrameChallenge:
		r.stats.Reply(metrics.StatusContinuation)
	case codec.FrameReply, codec.FrameTLS:
		ok := f.Reply.Status == codec.StatusOK
		if ok {
			r.stats.Reply(metrics.StatusOK)
		} else {
			r.stats.Reply(metrics.StatusErr)
		}
		if leg == logview.LegLocal {
			return // a local refusal is counted as a policy refusal, not a login
		}
		if ok && f.Cmd.Verb == "QUIT" {
			r.quitOK.Store(true)
		}
		r.stats.Login(f.Cmd.Verb, f.Cmd.Arg, ok)
	}
}

// refusalKinds maps the policy actions of local answers to their refusal metric.
var refusalKinds = map[string]metrics.Refusal{
	"deny":        metrics.RefusalDeny,
	"require-tls": metrics.RefusalRequireTLS,
	"stls":        metrics.RefusalSTLS,
	"unparsed":    metrics.RefusalUnparsed,
	"oauth":       metrics.RefusalOAuth,
}

// countEnd counts the session's end for its listener, by the reason recorded (see finish)
// or by QUIT; run defers it.
func (s *session) countEnd() {
	s.legsMu.Lock()
	reason := s.reason
	s.legsMu.Unlock()
	s.stats.Close(endOf(reason, s.rec.quitOK.Load()))
}

// endOf returns how a session ended from its close reason, and whether the server accepted
// its QUIT.
func endOf(reason string, quit bool) metrics.End {
	if quit {
		return metrics.EndClientQuit
	}
	switch reason {
	case "client closed":
		return metrics.EndClientClosed
	case "upstream closed", "upstream error":
		return metrics.EndServerClosed
	case "idle timeout":
		return metrics.EndIdleTimeout
	case "login timeout":
		return metrics.EndLoginTimeout
	case "shutdown":
		return metrics.EndShutdown
	case "client handshake failed":
		return metrics.EndClientTLSFailed
	case "upstream dial failed":
		return metrics.EndUpstreamDialFailed
	}
	return metrics.EndError
}
