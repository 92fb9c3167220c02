package deploytest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// bicepFile is a .bicep file seen through a small scanner: enough of Bicep's lexical
// structure (comments, single-quoted strings with backslash escapes and ${...}
// interpolation, triple-quoted multi-line strings, brackets) to check balance and to find
// blocks, keys and declarations.
type bicepFile struct {
	path string // relative to infra/, slash-separated
	// code is the source with comments blanked to spaces (newlines kept).
	code string
	// masked is code with string contents blanked too (quotes kept), so brackets and
	// keywords found in it are structure, never text.
	masked string
}

// scanBicep returns the file's code and masked forms, or the first balance error.
func scanBicep(src string) (code, masked string, err error) {
	c := []byte(src)
	m := []byte(src)
	blank := func(i int) {
		if c[i] != '\n' {
			c[i], m[i] = ' ', ' '
		}
	}
	type frame struct {
		open byte // ( [ { code brackets; '$' interpolation; '\'' string
		line int
	}
	var stack []frame
	line := 1
	inString := func() bool { return len(stack) > 0 && stack[len(stack)-1].open == '\'' }
	closer := map[byte]byte{')': '(', ']': '[', '}': '{'}
	for i := 0; i < len(src); i++ {
		ch := src[i]
		if ch == '\n' {
			if inString() {
				return "", "", fmt.Errorf("line %d: string not closed before the end of the line", line)
			}
			line++
			continue
		}
		if inString() {
			switch {
			case ch == '\\' && i+1 < len(src):
				if src[i+1] == '\n' {
					return "", "", fmt.Errorf("line %d: string not closed before the end of the line", line)
				}
				m[i], m[i+1] = '_', '_'
				i++
			case ch == '$' && i+1 < len(src) && src[i+1] == '{':
				stack = append(stack, frame{'$', line})
				i++
			case ch == '\'':
				stack = stack[:len(stack)-1]
			default:
				m[i] = '_'
			}
			continue
		}
		switch {
		case strings.HasPrefix(src[i:], "//"):
			for ; i < len(src) && src[i] != '\n'; i++ {
				blank(i)
			}
			i-- // let the loop see the newline
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return "", "", fmt.Errorf("line %d: /* comment not closed", line)
			}
			for j := i; j < i+2+end+2; j++ {
				if src[j] == '\n' {
					line++
				}
				blank(j)
			}
			i += 2 + end + 1
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			if end < 0 {
				return "", "", fmt.Errorf("line %d: ''' string not closed", line)
			}
			for j := i + 3; j < i+3+end; j++ {
				if src[j] == '\n' {
					line++
				} else {
					m[j] = '_'
				}
			}
			i += 3 + end + 2
		case ch == '\'':
			stack = append(stack, frame{'\'', line})
		case ch == '(' || ch == '[' || ch == '{':
			stack = append(stack, frame{ch, line})
		case ch == ')' || ch == ']' || ch == '}':
			if len(stack) == 0 {
				return "", "", fmt.Errorf("line %d: unexpected %q", line, ch)
			}
			top := stack[len(stack)-1]
			want := closer[ch]
			if top.open == '$' && ch == '}' {
				want = '$'
			}
			if top.open != want {
				return "", "", fmt.Errorf("line %d: %q closes %q opened on line %d", line, ch, top.open, top.line)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return "", "", fmt.Errorf("%q opened on line %d is never closed", top.open, top.line)
	}
	return string(c), string(m), nil
}

// loadBicep scans every .bicep file under infra/.
func loadBicep(t testing.TB, root string) map[string]*bicepFile {
	t.Helper()
	infra := filepath.Join(root, "infra")
	files := map[string]*bicepFile{}
	err := filepath.WalkDir(infra, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".bicep") {
			return err
		}
		rel, _ := filepath.Rel(infra, p)
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		code, masked, err := scanBicep(string(src))
		if err != nil {
			t.Errorf("infra/%s: %v", rel, err)
			return nil
		}
		files[rel] = &bicepFile{path: rel, code: code, masked: masked}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files["main.bicep"] == nil && !t.Failed() {
		t.Fatal("infra/main.bicep not found")
	}
	if t.Failed() {
		t.FailNow()
	}
	return files
}

func (f *bicepFile) lineOf(off int) int { return strings.Count(f.code[:off], "\n") + 1 }

// matching returns the index of the bracket closing the one at open.
func (f *bicepFile) matching(open int) int {
	depth := 0
	for i := open; i < len(f.masked); i++ {
		switch f.masked[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// entries returns the top-level "key: value" pairs of the object literal whose '{' is at
// open: keys unquoted, values as source text (comments removed, whitespace trimmed), with
// the offset where each value starts.
func (f *bicepFile) entries(open int) (map[string]string, map[string]int) {
	vals, offs := map[string]string{}, map[string]int{}
	end := f.matching(open)
	keyRE := regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*|'[^'\n]*')\s*:`)
	i := open + 1
	for i < end {
		// i is at the start of an entry (after '{', a newline or a comma at depth 0).
		loc := keyRE.FindStringSubmatchIndex(f.masked[i:end])
		start := i
		if loc != nil {
			start = i + loc[1]
		}
		j, depth := start, 0
		for ; j < end; j++ {
			ch := f.masked[j]
			if depth == 0 && (ch == '\n' || ch == ',') {
				break
			}
			switch ch {
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				depth--
			}
		}
		if loc != nil {
			key := strings.Trim(f.code[i+loc[2]:i+loc[3]], "'")
			vals[key] = strings.TrimSpace(f.code[start:j])
			offs[key] = start + len(f.masked[start:j]) - len(strings.TrimLeft(f.masked[start:j], " \t"))
		}
		i = j + 1
	}
	return vals, offs
}

// objectAt returns the offset of the '{' that starts the value at off, or -1.
func (f *bicepFile) objectAt(off int) int {
	rest := f.masked[off:]
	trimmed := strings.TrimLeft(rest, " \t\r\n")
	if !strings.HasPrefix(trimmed, "{") {
		return -1
	}
	return off + len(rest) - len(trimmed)
}

// lookup follows nested object keys from the object at open, returning the value text and
// its offset; ok is false if a key is missing.
func (f *bicepFile) lookup(open int, keys ...string) (string, int, bool) {
	val, off := "", open
	for n, k := range keys {
		if n > 0 {
			if open = f.objectAt(off); open < 0 {
				return "", 0, false
			}
		}
		vals, offs := f.entries(open)
		v, ok := vals[k]
		if !ok {
			return "", 0, false
		}
		val, off = v, offs[k]
	}
	return val, off, true
}

type bicepDecl struct {
	kind, name, typ string // typ: type of param/output, type string of resource/module
	hasDefault      bool
	body            int // offset of the '{' of a resource/module body, or -1
	existing        bool
}

var (
	declParamRE    = regexp.MustCompile(`(?m)^param\s+([A-Za-z_]\w*)\s+([A-Za-z_]\w*)\s*(=)?`)
	declOutputRE   = regexp.MustCompile(`(?m)^output\s+([A-Za-z_]\w*)\s+([A-Za-z_]\w*)\s*=`)
	declResourceRE = regexp.MustCompile(`(?m)^\s*(resource|module)\s+([A-Za-z_]\w*)\s+'([^']*)'\s*(existing\s*)?=\s*(\[|\{)`)
)

// decls lists the file's params, outputs, resources (nested ones too) and modules.
func (f *bicepFile) decls() []bicepDecl {
	var out []bicepDecl
	for _, m := range declParamRE.FindAllStringSubmatch(f.code, -1) {
		out = append(out, bicepDecl{kind: "param", name: m[1], typ: m[2], hasDefault: m[3] != "", body: -1})
	}
	for _, m := range declOutputRE.FindAllStringSubmatch(f.code, -1) {
		out = append(out, bicepDecl{kind: "output", name: m[1], typ: m[2], body: -1})
	}
	for _, m := range declResourceRE.FindAllStringSubmatchIndex(f.code, -1) {
		d := bicepDecl{kind: f.code[m[2]:m[3]], name: f.code[m[4]:m[5]], typ: f.code[m[6]:m[7]], existing: m[8] >= 0, body: -1}
		open := m[10]
		if f.code[open] == '[' { // [for x in y: { ... }]
			if k := strings.IndexByte(f.masked[open:f.matching(open)], '{'); k >= 0 {
				d.body = open + k
			}
		} else {
			d.body = open
		}
		out = append(out, d)
	}
	return out
}

func (f *bicepFile) find(kind string) map[string]bicepDecl {
	out := map[string]bicepDecl{}
	for _, d := range f.decls() {
		if d.kind == kind {
			out[d.name] = d
		}
	}
	return out
}

// TestBicepScanner checks the scanner itself on snippets, including the slips it is
// there to catch.
func TestBicepScanner(t *testing.T) {
	ok := []string{
		"param a string = 'x'\n",
		"var s = 'it\\'s ${concat('a', '}')} // not a comment'\n",
		"var m = '''\nmulti ' { line\n'''\n// a { comment\n/* another\n ( */\n",
		"resource r 'T@1' = {\n  name: 'n'\n  properties: {\n    a: [\n      1\n    ]\n  }\n}\n",
	}
	for _, src := range ok {
		if _, _, err := scanBicep(src); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
	bad := []string{
		"resource r 'T@1' = {\n  name: 'n'\n",    // unclosed {
		"var a = [\n  1\n}\n",                    // ] closed by }
		"var s = 'abc\n",                         // unterminated string
		"var s = '${a'\n",                        // interpolation never closed
		"var x = foo(1))\n",                      // stray )
		"/* open comment\n",                      // unterminated comment
		"var m = '''\nnever closed\n",            // unterminated multi-line string
		"var s = 'a\\\n'\n",                      // escaped newline
		"output o string = concat('a', 'b'\n}\n", // ( closed by }
	}
	for _, src := range bad {
		if _, _, err := scanBicep(src); err == nil {
			t.Errorf("%q: no error", src)
		}
	}

	src := "resource r 'T@1' = {\n  name: 'appsettings' // c\n  'quoted-key': union(a, {\n    x: 1\n  })\n  properties: {\n    A: 'v:1'\n    B__c: x.y\n  }\n}\n"
	code, masked, err := scanBicep(src)
	if err != nil {
		t.Fatal(err)
	}
	f := &bicepFile{code: code, masked: masked}
	d := f.find("resource")["r"]
	vals, _ := f.entries(d.body)
	if got := strings.Join(sortedKeys(vals), " "); got != "name properties quoted-key" {
		t.Errorf("keys %q", got)
	}
	if vals["name"] != "'appsettings'" {
		t.Errorf("name = %q", vals["name"])
	}
	_, off, _ := f.lookup(d.body, "properties")
	inner, _ := f.entries(f.objectAt(off))
	if got := strings.Join(sortedKeys(inner), " "); got != "A B__c" || inner["A"] != "'v:1'" {
		t.Errorf("properties %v", inner)
	}
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
