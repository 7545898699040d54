package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/web"
)

// page is what every template gets.
type page struct {
	T        map[string]string // the language's messages
	HTMLLang string
	// OtherLang is the ?lang= value of the switch link.
	OtherLang string
	CSRF      string // the form's CSRF token
	User      string // "" on the sign-in page
	// Can is what the user may do, by action name (auth.Can):
	// {{if .Can.ManageUsers}}. Templates show forms and links by it and
	// never by role names; every key is there, all false when no one is
	// signed in, so a misspelt one fails the render.
	Can      map[string]bool
	HasLists bool // the 红黑榜 pages are served
	// Codes are the sentences of the API's error codes, for the page's
	// scripts (static/errors.js); only pages of a signed-in official.
	Codes []codeText
	Data  any
}

func (c *Console) pageData(l lang, v *visit, csrfToken string, data any) page {
	p := page{T: c.msgs[l], HTMLLang: l.htmlLang(), OtherLang: string(langEN), CSRF: csrfToken, HasLists: c.ls != nil, Data: data,
		Can: auth.Can("")}
	if l == langEN {
		p.OtherLang = string(langZH)
	}
	if v != nil {
		p.User, p.Can = v.user.Name, auth.CanIn(v.user)
		p.Codes = codesData(p.T)
	}
	return p
}

// parsePages parses each page together with the layout. missingkey=error
// makes a message key absent from the table fail the render instead of
// showing an empty string.
func parsePages(fsys fs.FS) (map[string]*template.Template, error) {
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := n[len("templates/"):]
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Option("missingkey=error").Funcs(funcs()).ParseFS(fsys, "templates/layout.html", "templates/parts/*.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render executes a page into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := c.pages[name]
	var buf bytes.Buffer
	err := fmt.Errorf("no page %s", name)
	if ok {
		err = t.ExecuteTemplate(&buf, "layout", p)
	}
	if err != nil {
		c.log.Error("rendering a page", "page", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a client gone away is not our error
}

// pageHeaders keep pages out of caches and frames, and scripts to our own
// files: the templates have no inline script or style.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
}

type errorData struct{ Message string }

// errorPage shows the message under key with status.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, key string) {
	l := langOf(w, r)
	c.render(w, r, status, "error.html", c.pageData(l, nil, "", errorData{Message: c.msgs[l][key]}))
}

// errorJSON answers a script as the API does: the code's status, msg
// (the code's sentence in the official's language) and the code, by
// which the script explains it.
func (c *Console) errorJSON(w http.ResponseWriter, code web.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code.Status())
	_ = json.NewEncoder(w).Encode(web.Problem{Error: msg, Code: code}) // a client gone away is not our error
}

// fail logs an unexpected error and shows a generic page: details stay in
// the log, not in front of the official.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, l lang, err error) {
	c.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	if fromScript(r) {
		c.errorJSON(w, web.CodeInternal, c.msgs[l][codeKey(web.CodeInternal)])
		return
	}
	c.errorPage(w, r, http.StatusInternalServerError, "ServerError")
}

// rowData is what the "row" template gets: Box is nil for the empty row
// the page's JS clones.
type rowData struct {
	T   map[string]string
	Box *boxRow
}

// vrowsData is what the villager page's "vrows" template gets.
type vrowsData struct {
	T     map[string]string
	Token string
	Kind  string
	Rows  []lists.Row
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"vrows": func(t map[string]string, token, kind string, rows []lists.Row) vrowsData {
			return vrowsData{T: t, Token: token, Kind: kind, Rows: rows}
		},
		"rowOf": func(t map[string]string, b any) rowData {
			if r, ok := b.(boxRow); ok {
				return rowData{T: t, Box: &r}
			}
			return rowData{T: t}
		},
	}
}
