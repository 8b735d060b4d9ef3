package app

import (
	"encoding/json"
	"net/http"
)

// Version is the version the programs report; set at build time with
// -ldflags "-X github.com/navarch/navarch/examples/course/app.Version=2.0.0".
var Version = "1.0.0"

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// HelloHandler answers {"message":"Hello"}.
func HelloHandler(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"message": "Hello"})
}

// VersionHandler answers {"version":"<Version>"}.
func VersionHandler(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": Version})
}

// SecureHandler answers Hello to requests carrying a valid token and 401
// "authorization failed" to every other.
func (a *Auth) SecureHandler(w http.ResponseWriter, r *http.Request) {
	token, ok := bearer(r)
	if !ok {
		http.Error(w, "authorization failed", http.StatusUnauthorized)
		return
	}
	if _, err := a.Verify(token); err != nil {
		http.Error(w, "authorization failed", http.StatusUnauthorized)
		return
	}
	HelloHandler(w, r)
}

// LoginHandler checks HTTP basic credentials and answers {"token": ...}.
func (a *Auth) LoginHandler(w http.ResponseWriter, r *http.Request) {
	name, password, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="auth.service"`)
		http.Error(w, "authorization failed", http.StatusUnauthorized)
		return
	}
	token, err := a.Login(name, password)
	if err != nil {
		http.Error(w, "authorization failed", http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

// Routes are the application endpoints a program serves.
type Routes struct {
	Hello, Secure, Login bool
}

// Mux builds the application handler with the access log around it.
func Mux(a *Auth, routes Routes, log *AccessLog) http.Handler {
	mux := http.NewServeMux()
	if routes.Hello {
		mux.HandleFunc("GET /{$}", HelloHandler)
	}
	if routes.Secure {
		mux.HandleFunc("GET /secure", a.SecureHandler)
	}
	if routes.Login {
		mux.HandleFunc("GET /login", a.LoginHandler)
	}
	mux.HandleFunc("GET /version", VersionHandler)
	return log.Wrap(mux)
}
