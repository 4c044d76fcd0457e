// Package audit summarises the messages a POP3 session downloads: for each RETR or TOP reply it
// counts the octets, hashes the unstuffed content with SHA-256 and decodes the From, To, Cc,
// Subject, Date and Message-ID header fields; for the session it remembers the message-number
// to UID map learned from UIDL replies (RFC 1939 §7), so that RETR and DELE events can name
// messages by UID, and a Mailbox keeps the rules of what DELE, RSET and QUIT commit.
//
// The package is built to sit on the forwarding path: a Message keeps only the header block
// (at most MaxHeader bytes) and hashes everything else as it passes, without allocating. Only
// with KeepBody does it keep the content, in blocks that the Result hands out rather than
// copies (Kept), and that a Budget shared by every session can bound.
package audit
