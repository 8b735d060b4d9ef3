package main

// The networking tests' endpoint and subcommands.
//
// Endpoint: /delay?d=DURATION answers "delayed DURATION from HOSTNAME"
// after DURATION (at most a minute), so a test has requests in flight
// while it changes what routes them.
//
// Command modes (the image has no shell, wget or curl):
//
//	web get URL [N]             GET URL N times (default 1), each on a new
//	                            connection; prints the bodies, exit 1 on an
//	                            error or a non-2xx status
//	web apiget [-anonymous] URL GET URL as the pod's service account: the
//	                            bearer token and the CA (the only root
//	                            trusted) from serviceAccountDir; prints
//	                            "HTTP <status>" and the body, exit 0 on 2xx.
//	                            -anonymous sends no token (the CA still
//	                            verifies the server).

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// serviceAccountDir is where Kubernetes mounts a pod's service account
// credentials (token, ca.crt, namespace).
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func init() {
	http.HandleFunc("/delay", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 || d > time.Minute {
			http.Error(w, "d: a duration up to 1m", http.StatusBadRequest)
			return
		}
		time.Sleep(d)
		host, _ := os.Hostname()
		fmt.Fprintf(w, "delayed %s from %s\n", d, host)
	})
}

// runNetTool runs get and apiget; ok is false for any other args.
func runNetTool(args []string) (code int, ok bool) {
	switch args[0] {
	case "get":
		count := 1
		if len(args) == 3 {
			n, err := strconv.Atoi(args[2])
			if err != nil || n < 1 {
				return usage()
			}
			count = n
		} else if len(args) != 2 {
			return usage()
		}
		for range count {
			if err := get(args[1]); err != nil {
				fmt.Println(err)
				return 1, true
			}
		}
		return 0, true
	case "apiget":
		anonymous := len(args) == 3 && args[1] == "-anonymous"
		if len(args) != 2 && !anonymous {
			return usage()
		}
		if err := apiGet(args[len(args)-1], anonymous); err != nil {
			fmt.Println(err)
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// get sends one GET on a new connection and prints the body.
func get(url string) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Print(string(body))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// apiGet is `web apiget`: a request the way client-go's in-cluster
// configuration makes it.
func apiGet(url string, anonymous bool) error {
	caPEM, err := os.ReadFile(filepath.Join(serviceAccountDir, "ca.crt"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s/ca.crt holds no PEM certificate", serviceAccountDir)
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if !anonymous {
		token, err := os.ReadFile(filepath.Join(serviceAccountDir, "token"))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Printf("HTTP %d\n%s\n", resp.StatusCode, body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
