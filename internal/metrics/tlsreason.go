package metrics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// tlsReason is why a TLS handshake failed, for popwire_tls_handshake_failures_total.
type tlsReason int

// The reasons, each a label value in tlsReasonNames.
const (
	reasonVerify   tlsReason = iota // the peer's certificate did not verify
	reasonTimeout                   // the handshake ran out of time
	reasonClosed                    // the peer closed or reset the connection
	reasonProtocol                  // a TLS alert, a record that is not TLS, no common version or cipher
	reasonOther
	numTLSReason
)

var tlsReasonNames = [numTLSReason]string{"verify", "timeout", "closed", "protocol", "other"}

// classifyTLS returns the reason TLSFailure counts err under.
func classifyTLS(err error) tlsReason {
	var (
		verr    *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		alert   tls.AlertError
		record  tls.RecordHeaderError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return reasonVerify
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return reasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return reasonClosed
	case errors.As(err, &alert), errors.As(err, &record), isTLSError(err):
		return reasonProtocol
	}
	return reasonOther
}

// isTLSError reports whether the innermost error of err's chain is one crypto/tls made
// without a type of its own ("tls: client offered only unsupported versions").
func isTLSError(err error) bool {
	for err != nil {
		next := errors.Unwrap(err)
		if next == nil {
			return strings.HasPrefix(err.Error(), "tls: ")
		}
		err = next
	}
	return false
}
