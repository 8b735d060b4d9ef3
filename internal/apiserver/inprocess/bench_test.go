package inprocess

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/navarch/navarch/internal/api"
	"github.com/navarch/navarch/internal/apiserver"
	"github.com/navarch/navarch/internal/pki"
	"github.com/navarch/navarch/internal/registry/builtin"
	"github.com/navarch/navarch/internal/storage/embedded"
	"github.com/navarch/navarch/internal/storage/etcd3"
)

// BenchmarkCreatePod creates pods through client-go (protobuf, as the
// controllers do) over what the in-process clients used before, HTTPS on
// a Unix socket with a client certificate ("tls-unix"), and over
// Transport, the handler on a goroutine of its own ("inprocess") and on
// the caller's, as the server runs creates ("inprocess-caller"); against a handler that answers at once with a
// stored pod ("answer": the transport's own cost) and against the API
// server on an embedded etcd ("apiserver"). cpu-ns/op is the whole
// process's cpu time (user and system) per create, both sides included:
//
//	go test -run '^$' -bench CreatePod -benchmem ./internal/apiserver/inprocess
func BenchmarkCreatePod(b *testing.B) {
	pki := benchPKI(b)
	for _, target := range []string{"answer", "apiserver"} {
		for _, transport := range []string{"tls-unix", "inprocess", "inprocess-caller"} {
			b.Run(target+"/"+transport, func(b *testing.B) {
				handler := answerHandler(b)
				var ln net.Listener
				if transport == "tls-unix" {
					ln = pki.listenUnix(b)
				}
				var srv *apiserver.Server
				if target == "apiserver" {
					srv = startAPIServer(b, pki, ln)
					handler = srv.Handler()
				} else if ln != nil {
					hs := &http.Server{Handler: handler, TLSConfig: pki.serverTLS.Clone()}
					go func() { _ = hs.ServeTLS(ln, "", "") }()
					b.Cleanup(func() { _ = hs.Close() })
				}
				var cfg *rest.Config
				if transport == "tls-unix" {
					cfg = pki.unixConfig()
				} else {
					tr := &Transport{Handler: handler, User: &apiserver.User{Name: "bench", Groups: []string{"system:masters"}}}
					if transport == "inprocess-caller" {
						tr.LongRunning = func(*http.Request) bool { return false }
					}
					cfg = &rest.Config{Host: "https://127.0.0.1:6443", Transport: tr}
				}
				cfg.QPS, cfg.Burst = -1, 0
				cfg.ContentConfig = rest.ContentConfig{ContentType: runtime.ContentTypeProtobuf, AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON}
				client, err := kubernetes.NewForConfig(cfg)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if srv != nil {
					if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				// One create first: connections and caches are warm.
				if _, err := client.CoreV1().Pods("bench").Create(ctx, benchPod(-1), metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := processCPU()
				for i := 0; i < b.N; i++ {
					if _, err := client.CoreV1().Pods("bench").Create(ctx, benchPod(i), metav1.CreateOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// answerHandler answers every request with a created pod, as the API
// server answers a create (201, protobuf), after reading the body.
func answerHandler(b *testing.B) http.Handler {
	pod := benchPod(0)
	pod.UID, pod.ResourceVersion, pod.CreationTimestamp = "0b1c2d3e-0000-4000-8000-000000000001", "12345", metav1.Now()
	var buf bytes.Buffer
	if err := protobufEncoder(b).Encode(pod, &buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(data)
	})
}

func protobufEncoder(b *testing.B) runtime.Encoder {
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		b.Fatal("no protobuf serializer")
	}
	return scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion)
}

// benchPod is a pod as a ReplicaSet of the scheduler benchmark makes it.
func benchPod(i int) *corev1.Pod {
	yes := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-7d4b9c8f6d-" + strconv.Itoa(i), Namespace: "bench",
			Labels: map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6d"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d4b9c8f6d",
				UID: "8f0c3a5e-0000-4000-8000-000000000001", Controller: &yes, BlockOwnerDeletion: &yes,
			}},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "web", Image: "registry.example/web:1.2.3",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: apiresource.MustParse("10m"), corev1.ResourceMemory: apiresource.MustParse("16Mi"),
				}},
			}},
		},
	}
}

// startAPIServer runs an API server on an embedded etcd with the watch
// cache, as `navarch server` runs it, serving ln with TLS (a TCP listener
// of its own when nil), until the benchmark ends.
func startAPIServer(b *testing.B, p *benchCerts, ln net.Listener) *apiserver.Server {
	etcd, err := embedded.Start(context.Background(), embedded.Config{DataDir: b.TempDir(), Logger: zap.NewNop()})
	if err != nil {
		b.Fatalf("embedded.Start: %v", err)
	}
	b.Cleanup(func() { _ = etcd.Close() })
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
	}
	store := etcd3.New(etcd3.Config{Client: etcd.Client(), Codec: etcd3.NewCodec(api.Scheme)})
	srv, err := apiserver.New(apiserver.Config{
		Storage: store, Kinds: builtin.Kinds(), WatchCache: true,
		Authenticator: apiserver.UnionAuthenticator{Authenticator{}, apiserver.CertAuthenticator{}},
		Listener:      ln, TLS: p.serverTLS,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Start(ctx)
	}()
	b.Cleanup(func() { cancel(); wg.Wait() })
	if err := srv.WaitForWatchCaches(ctx); err != nil {
		b.Fatal(err)
	}
	srv.SetReady()
	return srv
}

type benchCerts struct {
	serverTLS             *tls.Config
	caPEM                 []byte
	clientCert, clientKey string
	dir                   string
}

func benchPKI(b *testing.B) *benchCerts {
	dir := b.TempDir()
	ca, err := pki.EnsureCA(dir)
	if err != nil {
		b.Fatal(err)
	}
	if err := ca.EnsureServingCert(dir, "apiserver", []string{"127.0.0.1", "localhost"}); err != nil {
		b.Fatal(err)
	}
	if err := ca.EnsureClientCert(dir, "client", "bench", []string{"system:masters"}); err != nil {
		b.Fatal(err)
	}
	serving, err := tls.LoadX509KeyPair(pki.CertFile(dir, "apiserver"), pki.KeyFile(dir, "apiserver"))
	if err != nil {
		b.Fatal(err)
	}
	return &benchCerts{
		serverTLS: &tls.Config{
			Certificates: []tls.Certificate{serving}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.CertPool(),
			MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
		},
		caPEM:      ca.CertPEM(),
		clientCert: pki.CertFile(dir, "client"), clientKey: pki.KeyFile(dir, "client"),
		dir: dir,
	}
}

// listenUnix listens on a Unix socket, as the API server did for its
// in-process clients before this package.
func (p *benchCerts) listenUnix(b *testing.B) net.Listener {
	ln, err := net.Listen("unix", p.socket())
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

func (p *benchCerts) socket() string { return filepath.Join(p.dir, "apiserver.sock") }

// unixConfig is a client config for the TLS server on the Unix socket,
// as the in-process clients had: the server's CA, a client certificate,
// HTTP/2.
func (p *benchCerts) unixConfig() *rest.Config {
	socket := p.socket()
	return &rest.Config{
		Host:            "https://127.0.0.1:6443",
		TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM, CertFile: p.clientCert, KeyFile: p.clientKey},
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
}
