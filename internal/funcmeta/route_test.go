package funcmeta

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

func TestMuxTemplates(t *testing.T) {
	cases := []struct {
		name   string
		prefix string
		route  string
		want   []string
		err    string
	}{
		{"literal", "api", "hello", []string{"/api/hello"}, ""},
		{"slashes ignored", "/api/", "/hello/", []string{"/api/hello"}, ""},
		{"no prefix", "", "hello", []string{"/hello"}, ""},
		{"nested prefix", "v1/api", "x", []string{"/v1/api/x"}, ""},
		{"empty route", "api", "", []string{"/api"}, ""},
		{"empty everything", "", "", []string{"/"}, ""},
		{"parameter", "api", "status/{id}", []string{"/api/status/{id}"}, ""},
		{"int", "api", "items/{id:int}", []string{"/api/items/{id:-?[0-9]+}"}, ""},
		{"alpha", "api", "x/{name:alpha}", []string{"/api/x/{name:[a-zA-Z]+}"}, ""},
		{"guid", "api", "i/{id:guid}", []string{"/api/i/{id:" + guidPattern + "}"}, ""},
		{"constraint case", "api", "i/{id:INT}", []string{"/api/i/{id:-?[0-9]+}"}, ""},
		{"length", "api", "c/{code:length(3)}", []string{"/api/c/{code:[^/]{3}}"}, ""},
		{"length range", "api", "c/{code:length(2,4)}", []string{"/api/c/{code:[^/]{2,4}}"}, ""},
		{"minlength", "api", "c/{code:minlength(2)}", []string{"/api/c/{code:[^/]{2,}}"}, ""},
		{"maxlength", "api", "c/{code:maxlength(8)}", []string{"/api/c/{code:[^/]{1,8}}"}, ""},
		{"required", "api", "c/{code:required}", []string{"/api/c/{code}"}, ""},
		{"optional", "api", "products/{category:alpha}/{id:int?}", []string{
			"/api/products/{category:[a-zA-Z]+}/{id:-?[0-9]+}", "/api/products/{category:[a-zA-Z]+}"}, ""},
		{"two optionals", "api", "a/{b?}/{c?}", []string{"/api/a/{b}/{c}", "/api/a/{b}", "/api/a"}, ""},
		{"default value", "api", "page/{n=1}", []string{"/api/page/{n}", "/api/page"}, ""},
		{"catch-all", "api", "counter/{*rest}", []string{"/api/counter/{rest:.*}", "/api/counter"}, ""},
		{"double-star catch-all", "api", "files/{**path}", []string{"/api/files/{path:.*}", "/api/files"}, ""},
		{"optional then catch-all", "api", "a/{b?}/{*rest}", []string{"/api/a/{b}/{rest:.*}", "/api/a/{b}", "/api/a"}, ""},
		{"complex segment", "api", "files/{name}.{ext}", []string{"/api/files/{name}.{ext}"}, ""},
		{"regex case-insensitive", "api", `p/{x:regex(^ab$)}`, []string{`/api/p/{x:(?:(?i:AB))}`}, ""},
		{"regex anchored", "api", `p/{ssn:regex(^\d{{3}}-\d{{2}}$)}`, []string{`/api/p/{ssn:(?:[0-9]{3}-[0-9]{2})}`}, ""},
		{"escaped literal brace", "api", "a{{b", nil, "literal braces"},
		{"optional in middle", "api", "a/{b?}/c", nil, "only trailing segments"},
		{"catch-all in middle", "api", "a/{*b}/c", nil, "last segment"},
		{"optional in complex segment", "api", "a/{b}.{c?}", nil, "whole segment"},
		{"consecutive parameters", "api", "a/{b}{c}", nil, "consecutive"},
		{"unknown constraint", "api", "a/{b:foo}", nil, "unknown route constraint"},
		{"range constraint", "api", "a/{b:range(1,5)}", nil, "cannot be expressed"},
		{"combined constraints", "api", "a/{b:int:alpha}", nil, "cannot be combined"},
		{"duplicate name", "api", "a/{id}/{ID}", nil, "appears twice"},
		{"unterminated", "api", "a/{id", nil, "unterminated"},
		{"stray close", "api", "a/id}", nil, "unmatched"},
		{"empty segment", "api", "a//b", nil, "empty segment"},
		{"question mark", "api", "a?b=c", nil, "'?'"},
		{"bad name", "api", "a/{}", nil, "invalid parameter name"},
		{"bad regex", "api", "a/{b:regex((?<=x)y)}", nil, "RE2"},
		{"regex matching slash", "api", "a/{b:regex(x/y)}", nil, "'/'"},
		{"optional catch-all", "api", "a/{*b?}", nil, "catch-all"},
		{"constrained catch-all", "api", "a/{*b:int}", nil, "catch-all"},
		{"prefix with braces", "{x}", "a", nil, "literal"},
		{"optional with default", "api", "a/{b=1?}", nil, "default"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := MuxTemplates(c.prefix, c.route)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want it to mention %q (templates %v)", err, c.err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestMuxTemplatesMatch registers the templates on a real gorilla/mux router and
// checks which paths they serve, which is what matters to the standalone server.
func TestMuxTemplatesMatch(t *testing.T) {
	cases := []struct {
		route string
		path  string
		match bool
		vars  map[string]string
	}{
		{"counter/{*rest}", "/api/counter", true, map[string]string{}},
		{"counter/{*rest}", "/api/counter/x/y", true, map[string]string{"rest": "x/y"}},
		{"counter/{*rest}", "/api/counterx", false, nil},
		{"items/{id:int}", "/api/items/42", true, map[string]string{"id": "42"}},
		{"items/{id:int}", "/api/items/-7", true, map[string]string{"id": "-7"}},
		{"items/{id:int}", "/api/items/abc", false, nil},
		{"items/{id:int}", "/api/items/4/2", false, nil},
		{"i/{id:guid}", "/api/i/52d53c5f-e212-487e-998b-abbe3b9d51e4", true, map[string]string{"id": "52d53c5f-e212-487e-998b-abbe3b9d51e4"}},
		{"i/{id:guid}", "/api/i/52d53c5fe212487e998babbe3b9d51e4", true, map[string]string{"id": "52d53c5fe212487e998babbe3b9d51e4"}},
		{"i/{id:guid}", "/api/i/not-a-guid", false, nil},
		{"p/{id:int?}", "/api/p", true, map[string]string{}},
		{"p/{id:int?}", "/api/p/5", true, map[string]string{"id": "5"}},
		{"p/{id:int?}", "/api/p/x", false, nil},
		{"files/{name}.{ext}", "/api/files/a.b.txt", true, map[string]string{"name": "a.b", "ext": "txt"}},
		// ASP.NET regex constraints are unanchored and case-insensitive unless
		// anchored; capture groups in them must not shift mux's variables.
		{`r/{code:regex(^(ab)+$)}/{n}`, "/api/r/ABab/9", true, map[string]string{"code": "ABab", "n": "9"}},
		{`r/{code:regex(^(ab)+$)}/{n}`, "/api/r/abx/9", false, nil},
		{`u/{code:regex(x.z)}`, "/api/u/__xyz__", true, map[string]string{"code": "__xyz__"}},
		{`u/{code:regex(x.z)}`, "/api/u/x/z", false, nil},
		{`n/{code:regex([^a])}`, "/api/n/b/c", false, nil},
		{`alt/{code:regex(^ab|cd$)}`, "/api/alt/cd", true, map[string]string{"code": "cd"}},
		{`alt/{code:regex(^ab|cd$)}`, "/api/alt/xcd", false, nil},
		{`alt2/{code:regex(ab|cd)}`, "/api/alt2/xxcdyy", true, map[string]string{"code": "xxcdyy"}},
	}
	for _, c := range cases {
		t.Run(c.route+" "+c.path, func(t *testing.T) {
			tpls, err := MuxTemplates("api", c.route)
			if err != nil {
				t.Fatal(err)
			}
			r := mux.NewRouter()
			var gotVars map[string]string
			for _, tpl := range tpls {
				r.HandleFunc(tpl, func(w http.ResponseWriter, req *http.Request) { gotVars = mux.Vars(req) })
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
			matched := rec.Code != http.StatusNotFound
			if matched != c.match {
				t.Fatalf("matched = %v, want %v (templates %q)", matched, c.match, tpls)
			}
			if c.match && !reflect.DeepEqual(gotVars, c.vars) {
				t.Errorf("vars = %v, want %v", gotVars, c.vars)
			}
		})
	}
}

func TestRouteParamsAndDefaults(t *testing.T) {
	rt, err := ParseRoute("orders/{id:int}/{page=1}")
	if err != nil {
		t.Fatal(err)
	}
	ps := rt.Params()
	if len(ps) != 2 || ps[0].Name != "id" || !reflect.DeepEqual(ps[0].Constraints, []string{"int"}) || ps[0].Optional ||
		ps[1].Name != "page" || !ps[1].Optional || !ps[1].HasDefault {
		t.Errorf("Params = %+v", ps)
	}
	if d := rt.Defaults(); !reflect.DeepEqual(d, map[string]string{"page": "1"}) {
		t.Errorf("Defaults = %v", d)
	}
	rt, err = ParseRoute(`a/{x:regex(^a:b=c?$)?}`)
	if err != nil {
		t.Fatal(err)
	}
	if p := rt.Params()[0]; !p.Optional || !reflect.DeepEqual(p.Constraints, []string{"regex(^a:b=c?$)"}) {
		t.Errorf("regex with delimiters = %+v", p)
	}
	var nilTpl *RouteTemplate
	if nilTpl.Params() != nil || len(nilTpl.Defaults()) != 0 {
		t.Error("nil template accessors")
	}
	if _, err := nilTpl.MuxTemplates("api"); err == nil {
		t.Error("nil template MuxTemplates succeeded")
	}
}
