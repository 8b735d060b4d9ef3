// Command web is the end-to-end test's container: it prints its
// environment (one "env NAME=VALUE" line per variable, sorted) and then
// serves "hello from HOSTNAME path=PATH" on $PORT (default 8080). With
// a subcommand it is a tool instead (tools.go).
package main

import (
	"fmt"
	"net/http"
	"os"
	"sort"
)

func main() {
	if code, ok := runTool(os.Args[1:]); ok {
		os.Exit(code)
	}
	env := os.Environ()
	sort.Strings(env)
	for _, kv := range env {
		fmt.Println("env " + kv)
	}
	host, _ := os.Hostname()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s path=%s\n", host, r.URL.Path)
	})
	fmt.Println("listening on :" + port)
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
