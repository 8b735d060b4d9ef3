package apiserver

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestReadBody(t *testing.T) {
	big := strings.Repeat("x", maxRequestBodyBytes+1)
	tests := []struct {
		name          string
		body          io.Reader
		contentLength int64
		want          string
		wantCode      int32 // 0: no error
	}{
		{name: "declared length", body: strings.NewReader(`{"a":1}`), contentLength: 7, want: `{"a":1}`},
		{name: "empty", body: strings.NewReader(""), contentLength: 0, want: ""},
		{name: "unknown length", body: strings.NewReader(`{"b":2}`), contentLength: -1, want: `{"b":2}`},
		{name: "shorter than declared", body: strings.NewReader(`{}`), contentLength: 10, wantCode: http.StatusBadRequest},
		{name: "over the limit, declared", body: strings.NewReader(big), contentLength: int64(len(big)), wantCode: http.StatusRequestEntityTooLarge},
		{name: "over the limit, unknown length", body: strings.NewReader(big), contentLength: -1, wantCode: http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/default/pods", nil)
			r.Body = io.NopCloser(tc.body)
			r.ContentLength = tc.contentLength
			got, err := readBody(r)
			if tc.wantCode != 0 {
				var status apierrors.APIStatus
				if err == nil || !errors.As(err, &status) || status.Status().Code != tc.wantCode {
					t.Fatalf("readBody = %q, %v; want an error with code %d", got, err, tc.wantCode)
				}
				return
			}
			if err != nil || !bytes.Equal(got, []byte(tc.want)) {
				t.Fatalf("readBody = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
