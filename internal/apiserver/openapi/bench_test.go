package openapi

import (
	"net/http"
	"runtime"
	"testing"
)

// benchRequest is one request of a benchmark.
type benchRequest struct {
	v3             bool
	target, accept string
	gzip           bool
}

func (r benchRequest) serve(b *testing.B, s *Service) int {
	handler := s.ServeV2
	if r.v3 {
		handler = s.ServeV3
	}
	header := map[string]string{"Accept": r.accept}
	if r.gzip {
		header["Accept-Encoding"] = "gzip"
	}
	w := get(handler, r.target, header)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: got %d %s", r.target, w.Code, w.Body.String())
	}
	return w.Body.Len()
}

// BenchmarkFirstRequest measures what the first requests cost a fresh
// Service over every top-level kind of the generated groups: the time and
// allocations of building and encoding the documents (ns/op, B/op), the
// heap the built Service keeps (retained-MiB) and the bytes served
// (body-KiB).
//
//	go test -run '^$' -bench FirstRequest -benchtime 5x ./internal/apiserver/openapi/
func BenchmarkFirstRequest(b *testing.B) {
	kinds := generatedKinds(b)
	var v3All, v3AllProtobuf []benchRequest
	v3All = append(v3All, benchRequest{v3: true, target: pathV3})
	for _, gv := range servedGroupVersions(kinds) {
		v3All = append(v3All, benchRequest{v3: true, target: pathV3 + "/" + gv})
		v3AllProtobuf = append(v3AllProtobuf, benchRequest{v3: true, target: pathV3 + "/" + gv, accept: acceptProtobufV3})
	}
	v2JSON := benchRequest{target: pathV2}
	v2Protobuf := benchRequest{target: pathV2, accept: acceptProtobufV2}
	cases := []struct {
		name     string
		requests []benchRequest
	}{
		{"v2-json", []benchRequest{v2JSON}},
		{"v2-json-gzip", []benchRequest{{target: pathV2, gzip: true}}},
		{"v2-protobuf", []benchRequest{v2Protobuf}},
		{"v3-index", v3All[:1]},
		{"v3-all-json", v3All},
		{"v3-all-protobuf", v3AllProtobuf},
		{"everything", append(append([]benchRequest{v2JSON, v2Protobuf}, v3All...), v3AllProtobuf...)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			served := 0
			for i := 0; i < b.N; i++ {
				s := New(kinds)
				served = 0
				for _, r := range c.requests {
					served += r.serve(b, s)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(kinds)), "kinds")
			b.ReportMetric(float64(served)/1024, "body-KiB")
			b.ReportMetric(retainedMiB(func() any {
				s := New(kinds)
				for _, r := range c.requests {
					r.serve(b, s)
				}
				return s
			}), "retained-MiB")
		})
	}
}

// BenchmarkServeBuilt measures serving a document already built.
//
//	go test -run '^$' -bench ServeBuilt ./internal/apiserver/openapi/
func BenchmarkServeBuilt(b *testing.B) {
	s := New(generatedKinds(b))
	for _, r := range []benchRequest{
		{target: pathV2},
		{target: pathV2, gzip: true},
		{v3: true, target: pathV3 + "/apis/apps/v1", accept: acceptProtobufV3},
	} {
		r.serve(b, s)
		b.Run(r.target+"/"+r.accept+map[bool]string{true: "/gzip"}[r.gzip], func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r.serve(b, s)
			}
		})
	}
}

// retainedMiB returns how much the live heap grows by keeping what build
// returns: the average over a few builds kept at once, which drowns the
// noise of a single measurement.
func retainedMiB(build func() any) float64 {
	const builds = 4
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := make([]any, builds)
	for i := range kept {
		kept[i] = build()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(kept)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / builds / (1 << 20)
}
