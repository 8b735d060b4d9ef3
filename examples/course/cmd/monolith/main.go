// Command monolith is one of the course's programs; see examples/course/app.
package main

import "github.com/navarch/navarch/examples/course/app"

func main() {
	app.Exit(app.Program{Name: "monolith", Routes: app.Routes{Hello: true, Secure: true, Login: true}})
}
