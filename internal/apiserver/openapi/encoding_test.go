package openapi

import "testing"

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name    string
		accept  string
		want    string // the matched offer's subtype; "" for none
		wantErr bool
	}{
		{"no header", "", "json", false},
		{"anything", "*/*", "json", false},
		{"any application type", "application/*", "json", false},
		{"json", "application/json", "json", false},
		{"client-go protobuf", acceptProtobufV2, "com.github.proto-openapi.spec.v2@v1.0+protobuf", false},
		{"dotted protobuf", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "com.github.proto-openapi.spec.v2.v1.0+protobuf", false},
		{"quality decides", "application/json;q=0.5, " + acceptProtobufV2, "com.github.proto-openapi.spec.v2@v1.0+protobuf", false},
		{"specific before wildcard", "*/*, " + acceptProtobufV2, "com.github.proto-openapi.spec.v2@v1.0+protobuf", false},
		{"order kept among equals", "application/json, " + acceptProtobufV2, "json", false},
		{"refused json falls back", "application/json;q=0, */*;q=0.1", "json", false},
		{"upper case", "Application/JSON", "json", false},
		{"unknown", "text/html", "", true},
		{"only refused", "application/json;q=0", "", true},
		{"malformed", "json", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := negotiate(tt.accept, offersV2)
			if ok == tt.wantErr {
				t.Fatalf("negotiate(%q): got ok %v, want %v", tt.accept, ok, !tt.wantErr)
			}
			if got.subtype != tt.want {
				t.Errorf("negotiate(%q): got %q, want %q", tt.accept, got.subtype, tt.want)
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"gzip, deflate, br", true},
		{"deflate, gzip;q=0.5", true},
		{"GZIP", true},
		{"*", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"br, deflate", false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			if got := acceptsGzip(tt.header); got != tt.want {
				t.Errorf("acceptsGzip(%q): got %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestETagMatches(t *testing.T) {
	const etag = `"ABC"`
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{`"ABC"`, true},
		{`W/"ABC"`, true},
		{`"X", "ABC"`, true},
		{"*", true},
		{`"ABCD"`, false},
		{`ABC`, false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			if got := etagMatches(tt.header, etag); got != tt.want {
				t.Errorf("etagMatches(%q, %q): got %v, want %v", tt.header, etag, got, tt.want)
			}
		})
	}
}
