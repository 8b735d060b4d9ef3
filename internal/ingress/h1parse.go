package ingress

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// This file is the fast path's HTTP/1.1 parser: request heads from
// clients, response heads from backends, chunked bodies both ways. It
// accepts a strict subset of HTTP/1.1 and says "hand off" for everything
// else, so that net/http decides those cases exactly as it always did;
// what it accepts, net/http accepts too and frames the same way
// (FuzzParseRequestHead checks both against net/http's parser).

// maxHeadLines bounds the header lines of a head the fast path takes;
// heads with more go to net/http.
const maxHeadLines = 64

// headerLine is one header field of a parsed head. Both slices point
// into the buffer the head was parsed from; value has its surrounding
// whitespace trimmed.
type headerLine struct {
	name, value []byte
}

// headStatus is the outcome of parsing a head.
type headStatus int

const (
	// headIncomplete: the buffer ends before the head does.
	headIncomplete headStatus = iota
	// headOK: the head is in the fast path's subset.
	headOK
	// headHandOff: the head is outside the subset (or malformed); net/http
	// is to read it from its first byte.
	headHandOff
)

// reqHead is a request head the fast path takes. The slices point into
// the buffer it was parsed from and are valid until that buffer is read
// past; a reqHead is reused from request to request.
type reqHead struct {
	method, target, path []byte // path: target up to '?'
	host                 []byte
	// headers are the end-to-end header lines to forward, in the
	// client's order: without Host, Content-Length, Transfer-Encoding,
	// the hop-by-hop headers (those Connection names among them), the
	// client's Forwarded and X-Forwarded-*, and an empty User-Agent.
	headers []headerLine
	// contentLength is the body's length; -1 with chunked.
	contentLength int64
	chunked       bool
	// close: the client asked to close the connection after the answer.
	close bool
	// teTrailers: the client's TE named "trailers" (forwarded as
	// "Te: trailers", as httputil.ReverseProxy does).
	teTrailers bool
	// addCacheControl: "Pragma: no-cache" without Cache-Control, to which
	// net/http adds "Cache-Control: no-cache".
	addCacheControl bool
	// size is the length of the head, final CRLF included.
	size int

	all   [maxHeadLines]headerLine // backing store of headers
	conns [][]byte                 // Connection tokens naming headers
}

// hasBody: a body follows the head.
func (h *reqHead) hasBody() bool { return h.chunked || h.contentLength > 0 }

// Lowercase names of the headers the parsers look at.
var (
	hHost             = []byte("host")
	hContentLength    = []byte("content-length")
	hTransferEncoding = []byte("transfer-encoding")
	hConnection       = []byte("connection")
	hUpgrade          = []byte("upgrade")
	hExpect           = []byte("expect")
	hTrailer          = []byte("trailer")
	hTE               = []byte("te")
	hKeepAlive        = []byte("keep-alive")
	hProxyConnection  = []byte("proxy-connection")
	hProxyAuthn       = []byte("proxy-authenticate")
	hProxyAuthz       = []byte("proxy-authorization")
	hForwarded        = []byte("forwarded")
	hXFF              = []byte("x-forwarded-for")
	hXFHost           = []byte("x-forwarded-host")
	hXFProto          = []byte("x-forwarded-proto")
	hUserAgent        = []byte("user-agent")
	hPragma           = []byte("pragma")
	hCacheControl     = []byte("cache-control")
	hContentType      = []byte("content-type")
	hContentEncoding  = []byte("content-encoding")
	hDate             = []byte("date")
)

// parseRequestHead parses the request head at the start of buf into h.
// Taken are: "METHOD /origin-form HTTP/1.1" with a token method other
// than CONNECT and PRI, and a target of characters net/url keeps as they
// are (no percent-escapes in the path, none malformed and no ';' in the
// query); CRLF line ends only; header names of token characters right
// before the colon, values without control characters; exactly one Host
// of host characters; no Expect, Upgrade or Trailer; at most one
// Content-Length (digits only) or one "Transfer-Encoding: chunked",
// never both; at most one User-Agent; at most maxHeadLines lines.
// Anything else is headHandOff; headIncomplete when buf holds no whole
// head yet and nothing in it is outside the subset.
func parseRequestHead(buf []byte, h *reqHead) headStatus {
	*h = reqHead{all: h.all, conns: h.conns[:0], contentLength: -1}
	h.headers = h.all[:0]
	line, rest, st := nextLine(buf)
	if st != headOK {
		return st
	}
	if !parseRequestLine(line, h) {
		return headHandOff
	}
	var hosts, lengths, encodings, agents, pragmas int
	hasCacheControl := false
	for {
		line, rest, st = nextLine(rest)
		if st != headOK {
			return st
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := splitHeaderLine(line)
		if !ok {
			return headHandOff
		}
		switch {
		case equalFold(name, hHost):
			hosts++
			if !validHost(value) {
				return headHandOff
			}
			h.host = value
			continue
		case equalFold(name, hContentLength):
			lengths++
			n, ok := parseLength(value)
			if !ok {
				return headHandOff
			}
			h.contentLength = n
			continue
		case equalFold(name, hTransferEncoding):
			encodings++
			if string(value) != "chunked" {
				return headHandOff
			}
			h.chunked = true
			continue
		case equalFold(name, hExpect), equalFold(name, hUpgrade), equalFold(name, hTrailer):
			return headHandOff
		case equalFold(name, hConnection):
			upgrade := false
			forEachToken(value, func(tok []byte) {
				switch {
				case equalFold(tok, []byte("close")):
					h.close = true
				case equalFold(tok, hUpgrade):
					upgrade = true
				default:
					h.conns = append(h.conns, tok)
				}
			})
			if upgrade {
				return headHandOff
			}
			continue
		case equalFold(name, hTE):
			forEachToken(value, func(tok []byte) {
				if equalFold(tok, []byte("trailers")) {
					h.teTrailers = true
				}
			})
			continue
		case equalFold(name, hKeepAlive), equalFold(name, hProxyConnection), equalFold(name, hProxyAuthn),
			equalFold(name, hProxyAuthz), equalFold(name, hForwarded), equalFold(name, hXFF),
			equalFold(name, hXFHost), equalFold(name, hXFProto):
			continue
		case equalFold(name, hUserAgent):
			agents++
			if len(value) == 0 {
				continue
			}
		case equalFold(name, hPragma):
			pragmas++
			if pragmas == 1 && string(value) == "no-cache" {
				h.addCacheControl = true
			}
		case equalFold(name, hCacheControl):
			hasCacheControl = true
		}
		if len(h.headers) == maxHeadLines {
			return headHandOff
		}
		h.headers = append(h.headers, headerLine{name, value})
	}
	if hosts != 1 || lengths > 1 || encodings > 1 || agents > 1 || (lengths == 1 && encodings == 1) {
		return headHandOff
	}
	if hasCacheControl {
		h.addCacheControl = false
	}
	// Headers that Connection names are hop-by-hop too.
	if len(h.conns) > 0 {
		kept := h.headers[:0]
		for _, l := range h.headers {
			if !namedIn(l.name, h.conns) {
				kept = append(kept, l)
			}
		}
		h.headers = kept
	}
	h.size = len(buf) - len(rest)
	return headOK
}

// parseRequestLine takes "METHOD SP target SP HTTP/1.1".
func parseRequestLine(line []byte, h *reqHead) bool {
	sp := indexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	h.method = line[:sp]
	for _, c := range h.method {
		if !isTokenChar(c) {
			return false
		}
	}
	if string(h.method) == "CONNECT" || string(h.method) == "PRI" {
		return false
	}
	line = line[sp+1:]
	sp = indexByte(line, ' ')
	if sp <= 0 || string(line[sp+1:]) != "HTTP/1.1" {
		return false
	}
	h.target = line[:sp]
	if h.target[0] != '/' {
		return false
	}
	q := indexByte(h.target, '?')
	if q < 0 {
		q = len(h.target)
	}
	h.path = h.target[:q]
	for _, c := range h.path {
		if !isPathChar(c) {
			return false
		}
	}
	query := h.target[q:]
	for i := 1; i < len(query); i++ {
		switch c := query[i]; {
		case c == '%':
			if i+2 >= len(query) || !isHex(query[i+1]) || !isHex(query[i+2]) {
				return false
			}
		case c == ';' || c == '#' || c <= ' ' || c >= 0x7f:
			return false
		}
	}
	return true
}

// nextLine returns the first CRLF-terminated line of buf (without the
// CRLF) and what follows it: headIncomplete without a line end,
// headHandOff for a bare LF or a CR inside the line.
func nextLine(buf []byte) (line, rest []byte, st headStatus) {
	i := indexByte(buf, '\n')
	if i < 0 {
		if j := indexByte(buf, '\r'); j >= 0 && j != len(buf)-1 {
			return nil, nil, headHandOff
		}
		return nil, nil, headIncomplete
	}
	if i == 0 || buf[i-1] != '\r' {
		return nil, nil, headHandOff
	}
	line = buf[:i-1]
	if indexByte(line, '\r') >= 0 {
		return nil, nil, headHandOff
	}
	return line, buf[i+1:], headOK
}

// splitHeaderLine splits "name: value" with a token name right before
// the colon and a value without control characters other than HTAB
// (whitespace around it trimmed).
func splitHeaderLine(line []byte) (name, value []byte, ok bool) {
	colon := indexByte(line, ':')
	if colon <= 0 {
		return nil, nil, false
	}
	name = line[:colon]
	for _, c := range name {
		if !isTokenChar(c) {
			return nil, nil, false
		}
	}
	value = line[colon+1:]
	for _, c := range value {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return nil, nil, false
		}
	}
	return name, trimOWS(value), true
}

// parseLength parses a Content-Length value: 1 to 18 digits.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// validHost: a non-empty Host of letters, digits and ".-_:[]" (names,
// IPv4 and IPv6 literals, ports).
func validHost(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']':
		default:
			return false
		}
	}
	return true
}

// forEachToken calls fn with each non-empty, trimmed element of a
// comma-separated header value.
func forEachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		i := indexByte(v, ',')
		if i < 0 {
			i = len(v)
		}
		if tok := trimOWS(v[:i]); len(tok) > 0 {
			fn(tok)
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// namedIn: name is one of the tokens (ASCII case-insensitively).
func namedIn(name []byte, tokens [][]byte) bool {
	for _, t := range tokens {
		if len(t) != len(name) {
			continue
		}
		same := true
		for i, c := range t {
			if lower(c) != lower(name[i]) {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isHopByHop: a header httputil.ReverseProxy removes both ways besides
// those Connection names.
func isHopByHop(name []byte) bool {
	return equalFold(name, hConnection) || equalFold(name, hProxyConnection) || equalFold(name, hKeepAlive) ||
		equalFold(name, hProxyAuthn) || equalFold(name, hProxyAuthz) || equalFold(name, hTE) ||
		equalFold(name, hTrailer) || equalFold(name, hTransferEncoding) || equalFold(name, hUpgrade)
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares ASCII case-insensitively; lower must be lowercase.
func equalFold(b, lower []byte) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isTokenChar: tchar of RFC 9110.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isPathChar: a character net/url leaves as it is in a path (so that
// the path routed on and the target forwarded are the client's bytes).
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/':
		return true
	}
	return false
}

// respHead is a backend's response head. The slices point into the
// buffer it was parsed from.
type respHead struct {
	status int
	// headers are the end-to-end header lines, in the backend's order
	// (hop-by-hop ones and those Connection names left out; Trailer is
	// kept, for a chunked answer's trailers).
	headers []headerLine
	// contentLength is the body's length, -1 when unknown (chunked, or
	// until the backend closes).
	contentLength int64
	chunked       bool
	// close: the connection cannot carry another request (Connection:
	// close, HTTP/1.0, or a body delimited by the close).
	close                                                   bool
	hasContentType, hasContentEncoding, hasDate, hasTrailer bool
	// addCacheControl as in reqHead.
	addCacheControl bool
	size            int
	// std is the answer as net/http's ReadResponse read it, when the
	// strict parser did not take it; body is then its Body.
	std  *http.Response
	body io.Reader

	all   [maxHeadLines]headerLine
	conns [][]byte
}

// parseResponseHead parses the response head at the start of buf, the
// answer to a request of the given method. Taken are: "HTTP/1.1" or
// "HTTP/1.0", a status of three digits from 100, an optional reason;
// CRLF line ends; header lines as in requests; at most one
// Content-Length, at most one Transfer-Encoding and that exactly
// "chunked", not both. Anything else is headHandOff: the caller reads
// that answer with net/http.
func parseResponseHead(buf []byte, method []byte, h *respHead) headStatus {
	*h = respHead{all: h.all, conns: h.conns[:0], contentLength: -1}
	h.headers = h.all[:0]
	line, rest, st := nextLine(buf)
	if st != headOK {
		return st
	}
	if len(line) < 12 || (string(line[:9]) != "HTTP/1.1 " && string(line[:9]) != "HTTP/1.0 ") ||
		(len(line) > 12 && line[12] != ' ') {
		return headHandOff
	}
	http10 := line[7] == '0'
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return headHandOff
		}
		h.status = h.status*10 + int(c-'0')
	}
	if h.status < 100 {
		return headHandOff
	}
	for _, c := range line[12:] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return headHandOff
		}
	}
	var lengths, encodings, pragmas int
	hasCacheControl, keepAlive := false, false
	for {
		line, rest, st = nextLine(rest)
		if st != headOK {
			return st
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := splitHeaderLine(line)
		if !ok {
			return headHandOff
		}
		switch {
		case equalFold(name, hContentLength):
			lengths++
			n, ok := parseLength(value)
			if !ok {
				return headHandOff
			}
			h.contentLength = n
		case equalFold(name, hTransferEncoding):
			encodings++
			if string(value) != "chunked" {
				return headHandOff
			}
			h.chunked = true
			continue
		case equalFold(name, hConnection):
			forEachToken(value, func(tok []byte) {
				switch {
				case equalFold(tok, []byte("close")):
					h.close = true
				case equalFold(tok, hKeepAlive):
					keepAlive = true
				default:
					h.conns = append(h.conns, tok)
				}
			})
			continue
		case equalFold(name, hTrailer):
			h.hasTrailer = true
		case isHopByHop(name):
			continue
		case equalFold(name, hContentType):
			h.hasContentType = true
		case equalFold(name, hContentEncoding):
			if len(value) > 0 {
				h.hasContentEncoding = true
			}
		case equalFold(name, hDate):
			h.hasDate = true
		case equalFold(name, hPragma):
			pragmas++
			if pragmas == 1 && string(value) == "no-cache" {
				h.addCacheControl = true
			}
		case equalFold(name, hCacheControl):
			hasCacheControl = true
		}
		if len(h.headers) == maxHeadLines {
			return headHandOff
		}
		h.headers = append(h.headers, headerLine{name, value})
	}
	if lengths > 1 || encodings > 1 || (lengths == 1 && encodings == 1) {
		return headHandOff
	}
	if hasCacheControl {
		h.addCacheControl = false
	}
	if http10 && !keepAlive {
		h.close = true
	}
	if len(h.conns) > 0 {
		kept := h.headers[:0]
		for _, l := range h.headers {
			if !namedIn(l.name, h.conns) {
				kept = append(kept, l)
			}
		}
		h.headers = kept
	}
	switch {
	case string(method) == "HEAD" || !bodyAllowed(h.status):
		h.contentLength, h.chunked = 0, false
	case h.chunked:
		h.contentLength = -1
	case h.contentLength < 0:
		h.close = true // the body ends when the backend closes
	}
	h.size = len(buf) - len(rest)
	return headOK
}

// bodyAllowed: a response with this status has a body (not 1xx, 204,
// 304).
func bodyAllowed(status int) bool {
	return status >= 200 && status != 204 && status != 304
}

// errChunked is a malformed chunked body.
var errChunked = errors.New("ingress: malformed chunked encoding")

// maxTrailerBytes bounds the trailer section of a chunked body.
const maxTrailerBytes = 16 << 10

// chunkedReader reads a chunked body from br, strictly: chunk sizes of
// 1 to 15 hex digits, an extension after ';' ignored, CRLF after each
// size line and each chunk's data. At the end it keeps the trailer
// lines (valid header lines, at most maxTrailerBytes) in trailer.
type chunkedReader struct {
	br      *bufio.Reader
	left    int64 // bytes left in the current chunk
	started bool
	done    bool
	trailer []byte // raw trailer lines, each with its CRLF
}

func (r *chunkedReader) reset(br *bufio.Reader) {
	*r = chunkedReader{br: br, trailer: r.trailer[:0]}
}

// Read returns the data of the current chunk, io.EOF after the last
// chunk and its trailer section.
func (r *chunkedReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	if r.left == 0 {
		if r.started {
			if err := r.expectCRLF(); err != nil {
				return 0, err
			}
		}
		r.started = true
		n, err := r.sizeLine()
		if err != nil {
			return 0, err
		}
		if n == 0 {
			if err := r.readTrailer(); err != nil {
				return 0, err
			}
			r.done = true
			return 0, io.EOF
		}
		r.left = n
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.br.Read(p)
	r.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// line reads one CRLF-terminated line (without it) of at most the
// reader's buffer.
func (r *chunkedReader) line() ([]byte, error) {
	l, err := r.br.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		} else if err == bufio.ErrBufferFull {
			err = errChunked
		}
		return nil, err
	}
	if len(l) < 2 || l[len(l)-2] != '\r' || indexByte(l[:len(l)-2], '\r') >= 0 {
		return nil, errChunked
	}
	return l[:len(l)-2], nil
}

func (r *chunkedReader) sizeLine() (int64, error) {
	l, err := r.line()
	if err != nil {
		return 0, err
	}
	if i := indexByte(l, ';'); i >= 0 {
		for _, c := range l[i:] {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return 0, errChunked
			}
		}
		l = l[:i]
	}
	l = trimOWS(l)
	if len(l) == 0 || len(l) > 15 {
		return 0, errChunked
	}
	var n int64
	for _, c := range l {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errChunked
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}

func (r *chunkedReader) expectCRLF() error {
	b, err := r.br.Peek(2)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if b[0] != '\r' || b[1] != '\n' {
		return errChunked
	}
	_, _ = r.br.Discard(2)
	return nil
}

func (r *chunkedReader) readTrailer() error {
	for {
		l, err := r.line()
		if err != nil {
			return err
		}
		if len(l) == 0 {
			return nil
		}
		if _, _, ok := splitHeaderLine(l); !ok {
			return errChunked
		}
		if len(r.trailer)+len(l)+2 > maxTrailerBytes {
			return fmt.Errorf("%w: trailer over %d bytes", errChunked, maxTrailerBytes)
		}
		r.trailer = append(append(r.trailer, l...), '\r', '\n')
	}
}
