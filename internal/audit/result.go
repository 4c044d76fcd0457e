package audit

// Result is the audit record of one RETR or TOP reply.
//
// The header fields are unfolded, RFC 2047 encoded words are decoded to UTF-8, and the text is
// made safe to print: invalid UTF-8 and control characters (C0, DEL, C1) become U+FFFD, tabs
// become spaces. A field the header block does not hold is "". When a field occurs more than
// once, the first occurrence counts.
type Result struct {
	Octets int64  // length of the unstuffed content
	SHA256 string // lower-case hex SHA-256 of the unstuffed content

	From      string
	To        string
	Cc        string
	Subject   string
	Date      string
	MessageID string

	// HeaderTruncated reports that the header block was longer than MaxHeader; the fields come
	// from the complete lines that were kept.
	HeaderTruncated bool
	// HeaderMalformed reports that the header block held lines that are not header fields
	// (RFC 5322 §2.2), such as body text in a message without a header/body separator or an
	// mbox "From " line; the fields come from the lines that parsed.
	HeaderMalformed bool

	// Body is the content as received (header included) when Message.KeepBody is set, empty
	// otherwise. Under a Budget its memory stays charged until Body.Drop lets go of it or the
	// garbage collector frees it.
	Body Kept
	// BodyTruncated reports that the content was longer than the body limit, so Body holds only
	// its first bytes.
	BodyTruncated bool
	// BodyOmitted reports that the content was left out (Body is "") because keeping it would
	// have passed the Message's Budget.
	BodyOmitted bool
}
