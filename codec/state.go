package codec

// Direction says which peer sent a line. The zero value is no direction.
type Direction uint8

// The two directions of a session.
const (
	FromClient Direction = iota + 1
	FromServer
)

// String returns "client" or "server", or "" for the zero value.
func (d Direction) String() string {
	switch d {
	case FromClient:
		return "client"
	case FromServer:
		return "server"
	}
	return ""
}

// State is the POP3 session state of RFC 1939 §3. The zero value is Authorization.
type State uint8

// The session states of RFC 1939 §3.
const (
	Authorization State = iota // zero value: a new session
	Transaction
	Update
)

// String returns the RFC 1939 name of the state in upper case.
func (s State) String() string {
	switch s {
	case Authorization:
		return "AUTHORIZATION"
	case Transaction:
		return "TRANSACTION"
	case Update:
		return "UPDATE"
	}
	return "UNKNOWN"
}
