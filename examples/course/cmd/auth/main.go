// Command auth is one of the course's programs; see examples/course/app.
package main

import "github.com/navarch/navarch/examples/course/app"

func main() {
	app.Exit(app.Program{Name: "auth", Routes: app.Routes{Hello: false, Secure: false, Login: true}})
}
