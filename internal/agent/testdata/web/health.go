package main

// The probe targets and the command modes of the test image.
//
// Endpoints: /healthz and /readiness answer 200 "ok" or, after a GET of
// /healthz/toggle or /readiness/toggle (which flips them), 503;
// /allocate?mb=N allocates and keeps N MiB (to get the container
// OOM-killed); /note?msg=TEXT prints "note TEXT" on stdout (so a hook's
// visit shows in the container log).
//
// Command modes (for exec probes, hooks and init containers, in an
// image with no shell): "web exit N", "web sleep SECONDS",
// "web check URL" (exit 0 when URL answers 2xx or 3xx, else 1).

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	unhealthy atomic.Bool
	unready   atomic.Bool

	// hoard keeps what /allocate allocated alive.
	hoardMu sync.Mutex
	hoard   [][]byte
)

func init() {
	http.HandleFunc("/healthz", state(&unhealthy))
	http.HandleFunc("/readiness", state(&unready))
	http.HandleFunc("/healthz/toggle", toggle(&unhealthy))
	http.HandleFunc("/readiness/toggle", toggle(&unready))
	http.HandleFunc("/allocate", allocate)
	http.HandleFunc("/note", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("note " + r.URL.Query().Get("msg"))
		fmt.Fprintln(w, "noted")
	})
}

func state(failing *atomic.Bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "failing", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

func toggle(failing *atomic.Bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := !failing.Load()
		failing.Store(now)
		fmt.Printf("%s failing=%v\n", r.URL.Path, now)
		fmt.Fprintf(w, "failing=%v\n", now)
	}
}

// allocate touches every page of what it allocates, so the memory is
// really charged to the container.
func allocate(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	if err != nil || mb <= 0 {
		http.Error(w, "mb: a positive number of MiB", http.StatusBadRequest)
		return
	}
	fmt.Printf("allocating %d MiB\n", mb)
	for range mb {
		chunk := make([]byte, 1<<20)
		for i := 0; i < len(chunk); i += 4096 {
			chunk[i] = 1
		}
		hoardMu.Lock()
		hoard = append(hoard, chunk)
		hoardMu.Unlock()
	}
	fmt.Fprintf(w, "allocated %d MiB\n", mb)
}

// runProbeTool runs the probe tests' subcommands (web sleep SECONDS, web
// check URL) and returns the exit code; any other args go to runNetTool.
func runProbeTool(args []string) (code int, ok bool) {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch args[0] {
	case "sleep":
		seconds, err := strconv.ParseFloat(arg(1), 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "usage: web sleep SECONDS")
			return 2, true
		}
		time.Sleep(time.Duration(seconds * float64(time.Second)))
		return 0, true
	case "check":
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get(arg(1))
		if err != nil {
			fmt.Println(err)
			return 1, true
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			fmt.Printf("HTTP %d\n", resp.StatusCode)
			return 1, true
		}
		return 0, true
	}
	return runNetTool(args) // net.go
}
