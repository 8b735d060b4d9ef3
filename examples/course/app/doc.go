// Package app is the code the course's programs share: the HTTP handlers
// of monolith, auth and hello (hello, secure, login, version), the health
// port with its toggles, the access log, and a graceful-shutdown runner.
//
// The one user is "user" with password "password" (bcrypt-checked) and
// email user@example.com; tokens are HS256 JWTs signed with the -secret
// flag, issued by "auth.service".
package app
