package ingress

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// parseCases are request heads and what the fast path's parser makes of
// them; they also seed FuzzParseRequestHead.
var parseCases = []struct {
	name string
	head string
	want headStatus
}{
	{"simple GET", "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n", headOK},
	{"query and headers", "GET /p/a-b_c.d~e!$&'()*+,;=:@?q=1&r=%20x HTTP/1.1\r\nHost: a:8080\r\nAccept: */*\r\nX-A:  b  \r\n\r\n", headOK},
	{"POST with length", "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", headOK},
	{"chunked", "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", headOK},
	{"connection close and named headers", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n\r\n", headOK},
	{"pipelined", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", headOK},
	{"incomplete line", "GET / HTTP/1.1\r\nHost: a\r", headIncomplete},
	{"incomplete head", "GET / HTTP/1.1\r\nHost: a\r\n", headIncomplete},
	{"empty", "", headIncomplete},

	{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", headHandOff},
	{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", headHandOff},
	{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", headHandOff},
	{"absolute form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"percent in path", "GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"bad escape in query", "GET /?q=%zz HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"semicolon in query", "GET /?a=1;b=2 HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"path character net/url escapes", "GET /a|b HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"no Host", "GET / HTTP/1.1\r\n\r\n", headHandOff},
	{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", headHandOff},
	{"empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", headHandOff},
	{"odd Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", headHandOff},
	{"Expect", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", headHandOff},
	{"Upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", headHandOff},
	{"Connection upgrade alone", "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", headHandOff},
	{"Trailer", "POST / HTTP/1.1\r\nHost: a\r\nTrailer: X\r\nTransfer-Encoding: chunked\r\n\r\n", headHandOff},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", headHandOff},
	{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", headHandOff},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", headHandOff},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", headHandOff},
	{"control in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", headHandOff},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", headHandOff},
	{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", headHandOff},
	{"bare LF after header", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", headHandOff},
	{"bare CR", "GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n", headHandOff},
	{"bare CR incomplete", "GET / HTTP/1.1\r\nHost: a\rX", headHandOff},
	{"header injection in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\rContent-Length: 5\r\n\r\n", headHandOff},
	{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", headHandOff},
	{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", headHandOff},
	{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", headHandOff},
	{"TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", headHandOff},
	{"TE gzip chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", headHandOff},
	{"TE capitalised", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", headHandOff},
	{"two TE headers", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", headHandOff},
	{"two CL headers", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", headHandOff},
	{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", headHandOff},
	{"CL sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", headHandOff},
	{"CL negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", headHandOff},
	{"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", headHandOff},
	{"CL huge", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", headHandOff},
	{"two User-Agents", "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: a\r\nUser-Agent: b\r\n\r\n", headHandOff},
	{"non-token method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"non-ASCII in path", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
	{"fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", headHandOff},
}

func TestParseRequestHead(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			var h reqHead
			if got := parseRequestHead([]byte(tc.head), &h); got != tc.want {
				t.Fatalf("parseRequestHead(%q) = %v, want %v", tc.head, got, tc.want)
			}
			if tc.want == headOK {
				checkAgainstNetHTTP(t, []byte(tc.head), &h)
			}
		})
	}
}

// TestParseRequestHeadFields checks what the parser keeps of a head.
func TestParseRequestHeadFields(t *testing.T) {
	head := "PUT /x?y HTTP/1.1\r\nHost: shop.example.com\r\nConnection: keep-alive, X-Hop, close\r\nX-Hop: 1\r\n" +
		"TE: trailers, deflate\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=1\r\nPragma: no-cache\r\nUser-Agent:\r\n" +
		"Proxy-Authorization: basic x\r\ncookie: a=1\r\nCookie: b=2\r\nContent-Length: 3\r\n\r\nabc"
	var h reqHead
	if st := parseRequestHead([]byte(head), &h); st != headOK {
		t.Fatalf("status %v", st)
	}
	var got []string
	for _, l := range h.headers {
		got = append(got, string(l.name)+"="+string(l.value))
	}
	want := []string{"Pragma=no-cache", "cookie=a=1", "Cookie=b=2"}
	if !slices.Equal(got, want) {
		t.Errorf("headers %q, want %q", got, want)
	}
	if string(h.method) != "PUT" || string(h.target) != "/x?y" || string(h.path) != "/x" || string(h.host) != "shop.example.com" ||
		h.contentLength != 3 || h.chunked || !h.close || !h.teTrailers || !h.addCacheControl || h.size != len(head)-3 {
		t.Errorf("parsed %+v", h)
	}
}

// checkAgainstNetHTTP fails unless net/http's server reads the head the
// parser took as the same request: the same method, target, path, Host,
// framing and closing, the same headers forwarded (as
// httputil.ReverseProxy forwards them) and the same length.
func checkAgainstNetHTTP(t *testing.T, buf []byte, h *reqHead) {
	t.Helper()
	br := bufio.NewReaderSize(bytes.NewReader(buf), len(buf)+16)
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("the fast path took %q, which net/http refuses: %v", buf, err)
	}
	// The checks of net/http's server beyond ReadRequest.
	if req.Host == "" || !httpguts.ValidHostHeader(req.Host) {
		t.Fatalf("the fast path took %q, whose Host net/http's server refuses", buf)
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			t.Fatalf("the fast path took %q, whose header name %q net/http's server refuses", buf, k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				t.Fatalf("the fast path took %q, whose header value %q net/http's server refuses", buf, v)
			}
		}
	}
	if req.Method != string(h.method) || req.URL.RequestURI() != string(h.target) || req.URL.Path != string(h.path) ||
		req.Host != string(h.host) || req.Close != h.close {
		t.Fatalf("%q: net/http reads %s %s (path %q) Host %q close %v; the fast path %s %s (path %q) Host %q close %v",
			buf, req.Method, req.URL.RequestURI(), req.URL.Path, req.Host, req.Close, h.method, h.target, h.path, h.host, h.close)
	}
	wantLen := h.contentLength
	if !h.chunked && wantLen < 0 {
		wantLen = 0
	}
	if req.ContentLength != wantLen || (len(req.TransferEncoding) > 0) != h.chunked {
		t.Fatalf("%q: net/http frames the body %d %q, the fast path %d chunked %v", buf, req.ContentLength, req.TransferEncoding, h.contentLength, h.chunked)
	}
	if consumed := len(buf) - br.Buffered(); consumed != h.size {
		t.Fatalf("%q: net/http's head is %d bytes, the fast path's %d", buf, consumed, h.size)
	}
	// The headers forwarded, as httputil.ReverseProxy leaves them.
	want := req.Header.Clone()
	removeHopByHop(want)
	for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Content-Length"} {
		delete(want, k)
	}
	if ua, ok := want["User-Agent"]; ok && ua[0] == "" {
		delete(want, "User-Agent")
	}
	got := http.Header{}
	for _, l := range h.headers {
		got.Add(string(l.name), string(l.value))
	}
	if h.addCacheControl {
		got.Add("Cache-Control", "no-cache")
	}
	if len(got) != len(want) {
		t.Fatalf("%q: forwarded headers %v, net/http's %v", buf, got, want)
	}
	for k, v := range want {
		if !slices.Equal(got[textproto.CanonicalMIMEHeaderKey(k)], v) {
			t.Fatalf("%q: forwarded headers %v, net/http's %v", buf, got, want)
		}
	}
}

// FuzzParseRequestHead: the parser never panics, and every head it takes
// net/http reads as the same request (checkAgainstNetHTTP).
//
//	go test ./internal/ingress -run '^$' -fuzz FuzzParseRequestHead -fuzztime 60s
func FuzzParseRequestHead(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		var h reqHead
		if parseRequestHead(buf, &h) == headOK {
			checkAgainstNetHTTP(t, buf, &h)
		}
	})
}

func TestChunkedReader(t *testing.T) {
	cases := []struct {
		name, in, want, trailer string
		ok                      bool
	}{
		{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", "", true},
		{"extension and trailer", "5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", "hello", "X-T: 1\r\n", true},
		{"upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", "", true},
		{"empty", "0\r\n\r\n", "", "", true},
		{"bare LF after size", "5\nhello\r\n0\r\n\r\n", "", "", false},
		{"missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", "hello", "", false},
		{"bad size", "5x\r\nhello\r\n0\r\n\r\n", "", "", false},
		{"empty size", "\r\nhello\r\n0\r\n\r\n", "", "", false},
		{"negative size", "-5\r\nhello\r\n0\r\n\r\n", "", "", false},
		{"size too long", "10000000000000000\r\n", "", "", false},
		{"CR in size line", "5\r\r\nhello\r\n0\r\n\r\n", "", "", false},
		{"cut off", "5\r\nhel", "hel", "", false},
		{"no last chunk", "5\r\nhello\r\n", "hello", "", false},
		{"bad trailer", "0\r\nX-T 1\r\n\r\n", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cr chunkedReader
			cr.reset(bufio.NewReader(strings.NewReader(tc.in)))
			got, err := io.ReadAll(&cr)
			if (err == nil) != tc.ok || string(got) != tc.want || string(cr.trailer) != tc.trailer {
				t.Fatalf("read %q, trailer %q, err %v; want %q, %q, ok %v", got, cr.trailer, err, tc.want, tc.trailer, tc.ok)
			}
		})
	}
}

func TestParseResponseHead(t *testing.T) {
	cases := []struct {
		name, head, method string
		want               headStatus
		length             int64
		chunked, close     bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", headOK, 5, false, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", headOK, -1, true, false},
		{"until close", "HTTP/1.1 200 OK\r\n\r\n", "GET", headOK, -1, false, true},
		{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", headOK, 0, false, false},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", headOK, 0, false, false},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET", headOK, 0, false, false},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET", headOK, 0, false, false},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "GET", headOK, 0, false, true},
		{"1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", headOK, 0, false, true},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", "GET", headOK, 0, false, false},
		{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", headHandOff, 0, false, false},
		{"TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", headHandOff, 0, false, false},
		{"two CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "GET", headHandOff, 0, false, false},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\r\n", "GET", headHandOff, 0, false, false},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", "GET", headHandOff, 0, false, false},
		{"HTTP/2", "HTTP/2 200 OK\r\n\r\n", "GET", headHandOff, 0, false, false},
		{"incomplete", "HTTP/1.1 200 OK\r\nContent-Le", "GET", headIncomplete, 0, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r respHead
			st := parseResponseHead([]byte(tc.head), []byte(tc.method), &r)
			if st != tc.want {
				t.Fatalf("status %v, want %v", st, tc.want)
			}
			if st == headOK && (r.contentLength != tc.length || r.chunked != tc.chunked || r.close != tc.close) {
				t.Fatalf("length %d chunked %v close %v, want %d %v %v", r.contentLength, r.chunked, r.close, tc.length, tc.chunked, tc.close)
			}
		})
	}
}
