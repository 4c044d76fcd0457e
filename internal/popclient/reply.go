package popclient

import (
	"context"

	"github.com/popwire/popwire/codec"
)

// Reply is a whole server reply, collected by Read and Do. It belongs to the caller.
type Reply struct {
	codec.Reply          // the parsed status line
	Kind        PartKind // PartStatus, PartChallenge or PartTLS
	Line        string   // the status line without its line ending
	Multi       bool     // a multi-line body followed
	List        []string // the unstuffed lines of a multi-line reply other than RETR/TOP
	Body        []byte   // the unstuffed content of a RETR/TOP reply
	BodyLines   int64    // body lines, terminator excluded
	Octets      int64    // body bytes on the wire, terminator excluded
	Notes       []string // what the codec reported while the reply was read
}

// OK reports whether the reply is +OK (a SASL continuation is not).
func (r *Reply) OK() bool { return r.Status == codec.StatusOK }

// Read collects the outstanding reply (the greeting, first) whole. On error it returns what
// arrived so far.
func (c *Conn) Read(ctx context.Context) (*Reply, error) {
	r := &Reply{}
	for {
		p, err := c.Next(ctx)
		if err != nil {
			return r, err
		}
		switch p.Kind {
		case PartStatus, PartChallenge, PartTLS:
			r.Reply, r.Kind, r.Line, r.Multi = p.Reply, p.Kind, p.Line, p.Multi
		case PartLine:
			r.List = append(r.List, p.Line)
		case PartData:
			r.Body = append(r.Body, p.Data...)
		case PartEnd:
			r.BodyLines, r.Octets = p.Lines, p.Octets
		case PartNote:
			r.Notes = append(r.Notes, p.Line)
		}
		if p.Last {
			return r, nil
		}
	}
}

// Do sends line (see Send) and reads its whole reply.
func (c *Conn) Do(ctx context.Context, line string) (*Reply, error) {
	if _, err := c.Send(line); err != nil {
		return &Reply{}, err
	}
	return c.Read(ctx)
}
