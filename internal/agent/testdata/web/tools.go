package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// runTool runs the streaming tests' subcommands, so exec, attach and
// logs have something to run in a FROM-scratch image:
//
//	web exit N                    exit with status N
//	web echo                      copy stdin to stdout until EOF
//	web print WORD...             print the words on stdout
//	web stderr WORD...            print the words on stderr
//	web ticker COUNT INTERVAL N   print "start <unix nanos>", then "tick I"
//	                              every INTERVAL, COUNT times (0: forever),
//	                              then exit with status N
//	web serve PORT TEXT           answer HTTP on PORT with "TEXT path=PATH"
//	web ps                        print "PID COMMAND LINE" for each process
//	                              this container sees
//	web cat FILE...               print the files
//
// ok is false when args name no subcommand (web then serves as usual).
func runTool(args []string) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "exit":
		if len(args) != 2 {
			return usage()
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return usage()
		}
		return n, true
	case "echo":
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1, true
		}
		return 0, true
	case "print":
		fmt.Println(strings.Join(args[1:], " "))
		return 0, true
	case "stderr":
		fmt.Fprintln(os.Stderr, strings.Join(args[1:], " "))
		return 0, true
	case "ticker":
		if len(args) != 4 {
			return usage()
		}
		count, err1 := strconv.Atoi(args[1])
		interval, err2 := time.ParseDuration(args[2])
		exit, err3 := strconv.Atoi(args[3])
		if err1 != nil || err2 != nil || err3 != nil {
			return usage()
		}
		fmt.Printf("start %d\n", time.Now().UnixNano())
		for i := 1; count == 0 || i <= count; i++ {
			time.Sleep(interval)
			fmt.Printf("tick %d\n", i)
		}
		return exit, true
	case "serve":
		if len(args) != 3 {
			return usage()
		}
		text := args[2]
		err := http.ListenAndServe(":"+args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s path=%s\n", text, r.URL.Path)
		}))
		fmt.Fprintln(os.Stderr, err)
		return 1, true
	case "cat":
		for _, name := range args[1:] {
			data, err := os.ReadFile(name)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1, true
			}
			_, _ = os.Stdout.Write(data)
		}
		return 0, true
	case "ps":
		entries, err := os.ReadDir("/proc")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1, true
		}
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil {
				continue // gone meanwhile
			}
			fmt.Println(e.Name(), strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
		return 0, true
	}
	return runProbeTool(args) // health.go, then net.go
}

func usage() (int, bool) {
	fmt.Fprintln(os.Stderr, "usage: web [exit N | echo | print WORD... | stderr WORD... | ticker COUNT INTERVAL N | serve PORT TEXT | ps | cat FILE... | sleep SECONDS | check URL | get URL [N] | apiget [-anonymous] URL]")
	return 2, true
}
