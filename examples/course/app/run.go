package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Program describes one of the course's programs.
type Program struct {
	Name   string
	Routes Routes
}

// Main parses args, serves the application and health ports, and on
// SIGTERM or SIGINT turns unready, lets in-flight requests finish and
// returns 0. It returns 2 for bad flags and 1 when a port cannot be used.
func Main(p Program, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "0.0.0.0:80", "HTTP service address")
	healthAddr := fs.String("health", "0.0.0.0:81", "health service address")
	secret := fs.String("secret", "secret", "JWT signing secret")
	drain := fs.Duration("shutdown-delay", 5*time.Second, "on SIGTERM, keep serving this long (unready) so load balancers stop sending traffic first")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := Serve(ctx, p, *httpAddr, *healthAddr, []byte(*secret), *drain, stdout); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return 1
	}
	return 0
}

// Serve runs the program until ctx ends, then shuts down gracefully:
// readiness turns 503, requests keep being served for drain (while
// endpoints and proxies drop this instance), then in-flight requests
// finish and the listeners close.
func Serve(ctx context.Context, p Program, httpAddr, healthAddr string, secret []byte, drain time.Duration, stdout io.Writer) error {
	auth := &Auth{Secret: secret, Users: []User{DefaultUser()}}
	health := &Health{}
	appLn, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	healthLn, err := net.Listen("tcp", healthAddr)
	if err != nil {
		appLn.Close()
		return err
	}
	fmt.Fprintf(stdout, "%s %s: HTTP service listening on %s\n", p.Name, Version, appLn.Addr())
	fmt.Fprintf(stdout, "%s %s: health service listening on %s\n", p.Name, Version, healthLn.Addr())
	appSrv := &http.Server{Handler: Mux(auth, p.Routes, NewAccessLog(stdout)), ReadHeaderTimeout: 10 * time.Second}
	healthSrv := &http.Server{Handler: health.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- appSrv.Serve(appLn) }()
	go func() { errc <- healthSrv.Serve(healthLn) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintf(stdout, "%s: shutting down\n", p.Name)
	health.SetReady(false)
	select {
	case <-time.After(drain):
	case err := <-errc:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = appSrv.Shutdown(shutdownCtx)
	_ = healthSrv.Shutdown(shutdownCtx)
	return err
}

// Exit runs Main with the process's arguments and exits with its code.
func Exit(p Program) {
	os.Exit(Main(p, os.Args[1:], os.Stdout, os.Stderr))
}
