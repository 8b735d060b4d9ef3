package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
)

// The volume tests' handlers, registered on the default mux beside
// main's "/":
//
//	/file?path=P               the content of file P (404 with the error)
//	/write?path=P&content=C    writes C to P (500 with the error)
//	/symlink?path=P&target=T   makes P a symlink to T
//	/exit?code=N&message=M     writes M to /dev/termination-log, exits N
func init() {
	http.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(data)
	})
	http.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := os.WriteFile(q.Get("path"), []byte(q.Get("content")), 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/symlink", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := os.Symlink(q.Get("target"), q.Get("path")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code, _ := strconv.Atoi(q.Get("code"))
		if err := os.WriteFile("/dev/termination-log", []byte(q.Get("message")), 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "exiting")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		go os.Exit(code)
	})
}
