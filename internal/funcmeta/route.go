package funcmeta

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"

	"github.com/gorilla/mux"
)

// RouteTemplate is a parsed Azure Functions (ASP.NET Core) route template such
// as "items/{id:int}/{*rest}".
type RouteTemplate struct {
	route    string
	segments [][]routePart
	params   []RouteParam
}

// RouteParam describes one {parameter} of a route template.
type RouteParam struct {
	Name string
	// Optional is true for {name?} and for parameters with a default value.
	Optional bool
	// CatchAll is true for {*name} and {**name}: it spans the rest of the path.
	CatchAll bool
	// Default is the value of {name=value}; gorilla/mux cannot supply it, so
	// callers apply it when the variable is absent (see RouteTemplate.Defaults).
	Default    string
	HasDefault bool
	// Constraints are the raw constraint texts, e.g. "int" or "regex(^a$)".
	Constraints []string
	// Pattern is the gorilla/mux regular expression the constraints became;
	// empty means mux's default (one path segment).
	Pattern string
}

type routePart struct {
	literal string
	param   int // index into params, or -1 for a literal
}

// guidPattern matches the two GUID forms that can appear in a path segment
// unescaped (with and without hyphens), as .NET's Guid.TryParse accepts them.
const guidPattern = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}`

// constraintPatterns maps the inline route constraints that a regular expression
// can express. int and long include a sign because ASP.NET parses them with
// int.TryParse, which accepts "-5"; a route that must not match negative ids
// should say {id:regex(^[0-9]+$)}.
var constraintPatterns = map[string]string{
	"int":     `-?[0-9]+`,
	"long":    `-?[0-9]+`,
	"alpha":   `[a-zA-Z]+`,
	"guid":    guidPattern,
	"bool":    `(?i:true|false)`,
	"decimal": `-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)`,
	"double":  `-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?`,
	"float":   `-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?`,
}

var paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]*$`)

// ParseRoute parses a route template (without the route prefix). Leading and
// trailing slashes are ignored, as the host ignores them.
func ParseRoute(route string) (*RouteTemplate, error) {
	t := &RouteTemplate{route: route}
	trimmed := strings.Trim(route, "/")
	if trimmed == "" {
		return t, nil
	}
	seen := map[string]bool{}
	rawSegs := splitSegments(trimmed)
	firstOptional := -1
	for si, seg := range rawSegs {
		if seg == "" {
			return nil, fmt.Errorf("route %q: empty segment", route)
		}
		parts, err := t.parseSegment(seg)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", route, err)
		}
		for _, p := range parts {
			if p.param < 0 {
				continue
			}
			key := strings.ToLower(t.params[p.param].Name)
			if seen[key] {
				return nil, fmt.Errorf("route %q: parameter %q appears twice", route, t.params[p.param].Name)
			}
			seen[key] = true
		}
		whole := len(parts) == 1 && parts[0].param >= 0
		for _, p := range parts {
			if p.param < 0 {
				continue
			}
			prm := t.params[p.param]
			if (prm.Optional || prm.CatchAll) && !whole {
				return nil, fmt.Errorf("route %q: optional and catch-all parameters must be a whole segment (%q)", route, seg)
			}
			if prm.CatchAll && si != len(rawSegs)-1 {
				return nil, fmt.Errorf("route %q: catch-all parameter %q must be in the last segment", route, prm.Name)
			}
		}
		optional := whole && (t.params[parts[0].param].Optional || t.params[parts[0].param].CatchAll)
		switch {
		case optional && firstOptional < 0:
			firstOptional = si
		case !optional && firstOptional >= 0:
			return nil, fmt.Errorf("route %q: optional parameter in segment %d is followed by a required segment %q; only trailing segments may be optional", route, firstOptional+1, seg)
		}
		t.segments = append(t.segments, parts)
	}
	return t, nil
}

// splitSegments splits a route on '/' outside parameters, so that a regex
// constraint containing '/' is reported as such rather than as a broken
// parameter.
func splitSegments(route string) []string {
	var segs []string
	start, inParam := 0, false
	for i := 0; i < len(route); i++ {
		c := route[i]
		switch {
		case (c == '{' || c == '}') && i+1 < len(route) && route[i+1] == c:
			i++
		case c == '{':
			inParam = true
		case c == '}':
			inParam = false
		case c == '/' && !inParam:
			segs = append(segs, route[start:i])
			start = i + 1
		}
	}
	return append(segs, route[start:])
}

func (t *RouteTemplate) parseSegment(seg string) ([]routePart, error) {
	var parts []routePart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, routePart{literal: lit.String(), param: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(seg); {
		c := seg[i]
		switch {
		case c == '{' && i+1 < len(seg) && seg[i+1] == '{':
			lit.WriteByte('{')
			i += 2
		case c == '}' && i+1 < len(seg) && seg[i+1] == '}':
			lit.WriteByte('}')
			i += 2
		case c == '}':
			return nil, fmt.Errorf("unmatched '}' in segment %q", seg)
		case c == '?':
			return nil, fmt.Errorf("literal '?' in segment %q (query strings are not part of a route)", seg)
		case c == '{':
			body, n, err := scanParam(seg[i:])
			if err != nil {
				return nil, fmt.Errorf("segment %q: %w", seg, err)
			}
			if len(parts) > 0 && parts[len(parts)-1].param >= 0 && lit.Len() == 0 {
				return nil, fmt.Errorf("segment %q has two consecutive parameters", seg)
			}
			flush()
			p, err := parseParam(body)
			if err != nil {
				return nil, fmt.Errorf("segment %q: %w", seg, err)
			}
			t.params = append(t.params, p)
			parts = append(parts, routePart{param: len(t.params) - 1})
			i += n
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	for _, p := range parts {
		if p.param < 0 && strings.ContainsAny(p.literal, "{}") {
			return nil, fmt.Errorf("segment %q: literal braces cannot be expressed in a gorilla/mux template", seg)
		}
	}
	return parts, nil
}

// scanParam reads "{...}" at the start of s, undoing {{ and }} escapes inside,
// and returns the body and the number of bytes consumed.
func scanParam(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '}':
			if i+1 < len(s) && s[i+1] == '}' {
				b.WriteByte('}')
				i++
				continue
			}
			return b.String(), i + 1, nil
		case '{':
			if i+1 < len(s) && s[i+1] == '{' {
				b.WriteByte('{')
				i++
				continue
			}
			return "", 0, errors.New("unescaped '{' inside a parameter (write {{ in regular expressions)")
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, errors.New("unterminated parameter")
}

func parseParam(body string) (RouteParam, error) {
	var p RouteParam
	switch {
	case strings.HasPrefix(body, "**"):
		p.CatchAll, body = true, body[2:]
	case strings.HasPrefix(body, "*"):
		p.CatchAll, body = true, body[1:]
	}
	end := strings.IndexAny(body, ":=?")
	if end < 0 {
		end = len(body)
	}
	p.Name, body = body[:end], body[end:]
	if !paramNameRE.MatchString(p.Name) {
		return p, fmt.Errorf("invalid parameter name %q", p.Name)
	}
	for strings.HasPrefix(body, ":") {
		c, rest := cutConstraint(body[1:])
		if c == "" {
			return p, fmt.Errorf("parameter %q: empty constraint", p.Name)
		}
		p.Constraints = append(p.Constraints, c)
		body = rest
	}
	switch {
	case body == "":
	case body == "?":
		p.Optional = true
	case strings.HasPrefix(body, "="):
		p.Default, p.HasDefault, p.Optional = body[1:], true, true
		if strings.HasSuffix(p.Default, "?") {
			return p, fmt.Errorf("parameter %q: an optional parameter cannot have a default value", p.Name)
		}
	default:
		return p, fmt.Errorf("parameter %q: unexpected %q", p.Name, body)
	}
	if p.CatchAll && (p.Optional && !p.HasDefault) {
		return p, fmt.Errorf("parameter %q: a catch-all parameter cannot be marked optional (it already is)", p.Name)
	}
	pattern, err := constraintsPattern(p)
	if err != nil {
		return p, err
	}
	p.Pattern = pattern
	return p, nil
}

// cutConstraint splits one constraint off s (which follows a ':'). Arguments in
// parentheses may contain ':' '=' and '?', so a parenthesised argument ends at
// the first ')' followed by the end, ':', '=' or a final '?'.
func cutConstraint(s string) (constraint, rest string) {
	open := strings.IndexByte(s, '(')
	stop := strings.IndexAny(s, ":=?")
	if open < 0 || (stop >= 0 && stop < open) {
		if stop < 0 {
			return s, ""
		}
		return s[:stop], s[stop:]
	}
	for i := open + 1; i < len(s); i++ {
		if s[i] != ')' {
			continue
		}
		after := s[i+1:]
		if after == "" || after == "?" || after[0] == ':' || after[0] == '=' {
			return s[:i+1], after
		}
	}
	return s, ""
}

func constraintsPattern(p RouteParam) (string, error) {
	var pattern, from string
	for _, c := range p.Constraints {
		name, arg, hasArg := strings.Cut(c, "(")
		name = strings.ToLower(strings.TrimSpace(name))
		if hasArg {
			if !strings.HasSuffix(arg, ")") {
				return "", fmt.Errorf("parameter %q: constraint %q lacks ')'", p.Name, c)
			}
			arg = arg[:len(arg)-1]
		}
		var pat string
		switch name {
		case "required":
			continue
		case "length", "minlength", "maxlength":
			var err error
			if pat, err = lengthPattern(name, arg); err != nil {
				return "", fmt.Errorf("parameter %q: %w", p.Name, err)
			}
		case "regex":
			var err error
			if pat, err = convertRegex(arg); err != nil {
				return "", fmt.Errorf("parameter %q: %w", p.Name, err)
			}
		case "min", "max", "range", "datetime", "file", "nonfile":
			return "", fmt.Errorf("parameter %q: constraint %q cannot be expressed as a gorilla/mux pattern", p.Name, c)
		default:
			known, ok := constraintPatterns[name]
			if !ok || hasArg {
				return "", fmt.Errorf("parameter %q: unknown route constraint %q", p.Name, c)
			}
			pat = known
		}
		if pattern != "" {
			return "", fmt.Errorf("parameter %q: constraints %q and %q cannot be combined into one pattern", p.Name, from, c)
		}
		pattern, from = pat, c
	}
	if pattern != "" && p.CatchAll {
		return "", fmt.Errorf("parameter %q: constraints on catch-all parameters are not supported", p.Name)
	}
	return pattern, nil
}

func lengthPattern(name, arg string) (string, error) {
	nums := strings.Split(arg, ",")
	vals := make([]int, len(nums))
	for i, n := range nums {
		v, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || v < 0 || v > 1000 {
			return "", fmt.Errorf("%s(%s): bad length", name, arg)
		}
		vals[i] = v
	}
	switch {
	case name == "length" && len(vals) == 1:
		return fmt.Sprintf("[^/]{%d}", vals[0]), nil
	case name == "length" && len(vals) == 2 && vals[0] <= vals[1]:
		return fmt.Sprintf("[^/]{%d,%d}", vals[0], vals[1]), nil
	case name == "minlength" && len(vals) == 1:
		return fmt.Sprintf("[^/]{%d,}", max(vals[0], 1)), nil
	case name == "maxlength" && len(vals) == 1 && vals[0] >= 1:
		return fmt.Sprintf("[^/]{1,%d}", vals[0]), nil
	}
	return "", fmt.Errorf("%s(%s): bad arguments", name, arg)
}

// convertRegex turns an ASP.NET regex constraint into a mux variable pattern
// with the same meaning: ASP.NET matches case-insensitively and unanchored
// within one segment value, whereas mux embeds the pattern in an anchored path
// regexp and reads variables by group position. So anchors are stripped (and
// absent anchors become [^/]* padding), capture groups become non-capturing,
// '.' and character classes lose '/', and the whole is made case-insensitive.
func convertRegex(expr string) (string, error) {
	body := expr
	anchoredStart := strings.HasPrefix(body, "^")
	body = strings.TrimPrefix(body, "^")
	anchoredEnd := strings.HasSuffix(body, "$") && !strings.HasSuffix(body, `\$`)
	body = strings.TrimSuffix(body, "$")
	if anchoredEnd && !anchoredStart && body == "" {
		anchoredEnd = false
	}
	re, err := syntax.Parse("(?i:"+body+")", syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("regex(%s) is not valid RE2 syntax: %w", expr, err)
	}
	if err := segmentLocal(re); err != nil {
		return "", fmt.Errorf("regex(%s): %w", expr, err)
	}
	// Group the result: String may print a top-level alternation bare, and
	// mux concatenates the pattern with its neighbours.
	out := "(?:" + re.String() + ")"
	if !anchoredStart {
		out = "[^/]*?" + out
	}
	if !anchoredEnd {
		out += "[^/]*"
	}
	if _, err := regexp.Compile(out); err != nil {
		return "", fmt.Errorf("regex(%s): %w", expr, err)
	}
	return out, nil
}

// segmentLocal rewrites re in place so that it has no capture groups and cannot
// match '/', mirroring ASP.NET, which applies constraints to one segment value.
func segmentLocal(re *syntax.Regexp) error {
	for i, sub := range re.Sub {
		for sub.Op == syntax.OpCapture {
			sub = sub.Sub[0]
		}
		re.Sub[i] = sub
		if err := segmentLocal(sub); err != nil {
			return err
		}
	}
	switch re.Op {
	case syntax.OpCapture:
		*re = *re.Sub[0]
		return segmentLocal(re)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		ranges := []rune{0, '/' - 1, '/' + 1, unicode.MaxRune}
		if re.Op == syntax.OpAnyCharNotNL {
			ranges = []rune{0, '\n' - 1, '\n' + 1, '/' - 1, '/' + 1, unicode.MaxRune}
		}
		*re = syntax.Regexp{Op: syntax.OpCharClass, Rune: ranges}
	case syntax.OpCharClass:
		re.Rune = withoutSlash(re.Rune)
		if len(re.Rune) == 0 {
			*re = syntax.Regexp{Op: syntax.OpNoMatch}
		}
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r == '/' {
				return errors.New("a constraint cannot match '/' (it applies to one path segment)")
			}
		}
	}
	return nil
}

func withoutSlash(ranges []rune) []rune {
	var out []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo <= '/' && '/' <= hi {
			if lo < '/' {
				out = append(out, lo, '/'-1)
			}
			if hi > '/' {
				out = append(out, '/'+1, hi)
			}
			continue
		}
		out = append(out, lo, hi)
	}
	return out
}

// Params returns the template's parameters in order of appearance.
func (t *RouteTemplate) Params() []RouteParam {
	if t == nil {
		return nil
	}
	return append([]RouteParam(nil), t.params...)
}

// Defaults returns the default values of {name=value} parameters, which a caller
// fills in when mux matched a template without that variable.
func (t *RouteTemplate) Defaults() map[string]string {
	out := map[string]string{}
	if t == nil {
		return out
	}
	for _, p := range t.params {
		if p.HasDefault {
			out[p.Name] = p.Default
		}
	}
	return out
}

// MuxTemplates returns the gorilla/mux path templates that together match what
// the host matches for this route under prefix, longest first. mux has no
// optional segments, so a route with k trailing optional segments (or a
// catch-all) yields k+1 templates; "counter/{*rest}" under "api" yields
// "/api/counter/{rest:.*}" and "/api/counter". Like mux (and unlike the host)
// the templates match literals case-sensitively.
func (t *RouteTemplate) MuxTemplates(prefix string) ([]string, error) {
	if t == nil {
		return nil, errors.New("nil route template")
	}
	var base []string
	for _, seg := range strings.Split(strings.Trim(prefix, "/"), "/") {
		if seg == "" {
			continue
		}
		if strings.ContainsAny(seg, "{}?") {
			return nil, fmt.Errorf("route prefix %q: must be literal", prefix)
		}
		base = append(base, seg)
	}
	segs := make([]string, len(t.segments))
	required := len(t.segments)
	for i, parts := range t.segments {
		var b strings.Builder
		for _, p := range parts {
			if p.param < 0 {
				b.WriteString(p.literal)
				continue
			}
			prm := t.params[p.param]
			if (prm.Optional || prm.CatchAll) && i < required {
				required = i
			}
			switch {
			case prm.CatchAll:
				fmt.Fprintf(&b, "{%s:.*}", prm.Name)
			case prm.Pattern != "":
				fmt.Fprintf(&b, "{%s:%s}", prm.Name, prm.Pattern)
			default:
				fmt.Fprintf(&b, "{%s}", prm.Name)
			}
		}
		segs[i] = b.String()
	}
	var out []string
	for n := len(segs); n >= required; n-- {
		tpl := "/" + strings.Join(append(append([]string(nil), base...), segs[:n]...), "/")
		if err := mux.NewRouter().NewRoute().Path(tpl).GetError(); err != nil {
			return nil, fmt.Errorf("route %q: %w", t.route, err)
		}
		out = append(out, tpl)
	}
	return out, nil
}

// MuxTemplates converts an Azure Functions route template under the given route
// prefix (host.json extensions.http.routePrefix, "api" by default) into
// gorilla/mux path templates. See RouteTemplate.MuxTemplates.
func MuxTemplates(prefix, route string) ([]string, error) {
	t, err := ParseRoute(route)
	if err != nil {
		return nil, err
	}
	return t.MuxTemplates(prefix)
}
