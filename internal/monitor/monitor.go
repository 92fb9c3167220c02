// Package monitor serves a web dashboard for the task hub: instances with filters,
// paging and status counts; an instance page with its history as a timeline and the
// management actions; entities; queue depths and poison messages. It is one page of
// plain HTML, CSS and JavaScript embedded in the binary (no build step, nothing
// fetched at run time) that talks only to the management API (internal/mgmt), so
// keys and authorization are that API's: a page opened with ?code=<key> sends the
// key as x-functions-key on every management call.
//
// The page is served by an HTTP function (folder durable_monitor, route
// monitor/{*path}, authLevel admin) and uses hash routes (#/instances,
// #/instance/<id>, #/entities, #/taskhub), so it needs no server routes of its own.
package monitor

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"

	"github.com/durablego/durablefunctions/internal/httpx"
	"github.com/durablego/durablefunctions/internal/mgmt"
	"github.com/durablego/durablefunctions/internal/runner"
	"github.com/gorilla/mux"
)

//go:embed ui/index.html ui/style.css ui/app.js
var ui embed.FS

// Options tunes the dashboard.
type Options struct {
	// ManagementPath is the URL path of the management API; "" means
	// /<route prefix>/runtime/webhooks/durabletask, where the app serves it.
	ManagementPath string
}

type page struct {
	Nonce string
	Mgmt  string
	CSS   template.CSS
	JS    template.JS
}

type handler struct {
	opts Options
	tmpl *template.Template
	css  template.CSS
	js   template.JS
}

// Handler serves the dashboard; opts may be nil.
func Handler(opts *Options) http.Handler {
	h := &handler{}
	if opts != nil {
		h.opts = *opts
	}
	read := func(name string) string {
		b, _ := ui.ReadFile("ui/" + name) // go:embed fails the build when a file is missing
		return string(b)
	}
	h.tmpl = template.Must(template.New("index").Parse(read("index.html")))
	// The stylesheet and script are inlined: one response, so a page opened with
	// ?code= needs the key for nothing but its API calls.
	h.css = template.CSS(read("style.css"))
	h.js = template.JS(read("app.js"))
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpx.Errorf(w, http.StatusMethodNotAllowed, "method %s is not allowed on the dashboard", r.Method)
		return
	}
	// Views are hash routes; any path below the dashboard is a mistake, not a page.
	if rest := strings.Trim(restOfPath(r), "/"); rest != "" && rest != "index.html" {
		httpx.Errorf(w, http.StatusNotFound, "no dashboard page %q: the dashboard is one page, its views are #/instances, #/entities and #/taskhub", rest)
		return
	}
	nonce := make([]byte, 18)
	_, _ = rand.Read(nonce)
	// URL-safe base64: html/template would escape '+' and '/' in the attributes.
	p := page{Nonce: base64.RawURLEncoding.EncodeToString(nonce), Mgmt: h.mgmtPath(r), CSS: h.css, JS: h.js}
	var buf bytes.Buffer
	if err := h.tmpl.Execute(&buf, p); err != nil {
		httpx.Errorf(w, http.StatusInternalServerError, "rendering the dashboard: %v", err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	// The page URL may carry the key (?code=): never send it on as a referrer.
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+p.Nonce+"'; style-src 'nonce-"+p.Nonce+
		"'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(buf.Bytes())
	}
}

// mgmtPath is where the page finds the management API.
func (h *handler) mgmtPath(r *http.Request) string {
	if h.opts.ManagementPath != "" {
		return "/" + strings.Trim(h.opts.ManagementPath, "/")
	}
	p := strings.Trim(runner.RoutePrefix(r), "/")
	if p == "" {
		return mgmt.MountPath
	}
	return "/" + p + mgmt.MountPath
}

// restOfPath is the route's catch-all {path}: a mux variable when served
// standalone, a path value under the Functions host.
func restOfPath(r *http.Request) string {
	if v, ok := mux.Vars(r)["path"]; ok {
		return v
	}
	return r.PathValue("path")
}
