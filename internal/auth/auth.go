// Package auth enforces HTTP function keys the way the Azure Functions host
// does, for standalone mode where no host stands in front of the handler.
//
// Key values are hashed as soon as they are loaded and never kept, logged or
// returned; every comparison is constant-time over all candidates.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode"
)

// Level is an httpTrigger authLevel.
type Level int

// The auth levels a function.json httpTrigger can declare. The zero value is
// LevelFunction because that is the host's default when authLevel is omitted.
const (
	LevelFunction Level = iota
	LevelAnonymous
	LevelAdmin
)

// ParseLevel reads a function.json authLevel, case-insensitively. An empty
// string means the host default, function.
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "function":
		return LevelFunction, nil
	case "anonymous":
		return LevelAnonymous, nil
	case "admin":
		return LevelAdmin, nil
	}
	return 0, fmt.Errorf("auth: unknown authLevel %q (want anonymous, function or admin)", s)
}

// String returns the function.json spelling.
func (l Level) String() string {
	switch l {
	case LevelFunction:
		return "function"
	case LevelAnonymous:
		return "anonymous"
	case LevelAdmin:
		return "admin"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Settings read by LoadKeys.
const (
	SettingMasterKey   = "FUNCTIONS_MASTER_KEY"
	SettingHostKeys    = "FUNCTIONS_HOST_KEYS"
	SettingFunctionKey = "FUNCTIONS_KEY_" // + upper-cased function name
)

// KeyHeader and KeyQueryParam are where the host looks for a key, in that
// order: a request with the header is judged by the header alone.
const (
	KeyHeader     = "x-functions-key"
	KeyQueryParam = "code"
)

type digest = [sha256.Size]byte

// Keys holds the digests of the configured keys.
type Keys struct {
	// DevMode allows every request, as admin, when no key at all is
	// configured. It exists for local runs, mirroring `func start`, which does
	// not enforce keys; it has no effect once any key is configured, so a
	// forgotten flag cannot open a configured deployment.
	DevMode bool

	master    []digest
	host      []digest
	functions map[string][]digest // by lower-cased function name
}

// LoadKeys reads keys from settings: FUNCTIONS_MASTER_KEY, FUNCTIONS_HOST_KEYS
// (comma-separated "name=value" or bare values) and, for each function,
// FUNCTIONS_KEY_<NAME> (comma-separated values). Function names are
// upper-cased; since '-' is not allowed in most environment variable names,
// FUNCTIONS_KEY_<NAME with non-alphanumerics as '_'> is read too.
//
// Key values are usually base64 and may end in '=' padding, so an entry is only
// taken as name=value when the part before the first '=' looks like a name and
// the part after it is not empty and does not start with '='.
func LoadKeys(getenv func(string) string, functionNames []string) (*Keys, error) {
	if getenv == nil {
		return nil, errors.New("auth: nil getenv")
	}
	k := &Keys{functions: map[string][]digest{}}
	if m := strings.TrimSpace(getenv(SettingMasterKey)); m != "" {
		if strings.Contains(m, ",") {
			return nil, fmt.Errorf("auth: %s must hold a single key", SettingMasterKey)
		}
		k.master = append(k.master, hashKey(m))
	}
	for _, entry := range splitList(getenv(SettingHostKeys)) {
		k.host = append(k.host, hashKey(hostKeyValue(entry)))
	}
	for _, fn := range functionNames {
		if fn == "" {
			continue
		}
		names := []string{SettingFunctionKey + strings.ToUpper(fn)}
		if alt := SettingFunctionKey + envSafe(strings.ToUpper(fn)); alt != names[0] {
			names = append(names, alt)
		}
		key := strings.ToLower(fn)
		for _, setting := range names {
			for _, v := range splitList(getenv(setting)) {
				k.functions[key] = append(k.functions[key], hashKey(v))
			}
		}
	}
	return k, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func hostKeyValue(entry string) string {
	name, value, ok := strings.Cut(entry, "=")
	if !ok || value == "" || value[0] == '=' || !isKeyName(name) {
		return entry
	}
	return strings.TrimSpace(value)
}

func isKeyName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

func envSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, s)
}

// hashKey makes every candidate the same length, so the constant-time
// comparison does not reveal key lengths either.
func hashKey(s string) digest { return sha256.Sum256([]byte(s)) }

// Configured reports whether any key is configured.
func (k *Keys) Configured() bool {
	if k == nil {
		return false
	}
	if len(k.master) > 0 || len(k.host) > 0 {
		return true
	}
	for _, d := range k.functions {
		if len(d) > 0 {
			return true
		}
	}
	return false
}

// String describes the key set without revealing anything about key values,
// so that a Keys accidentally passed to a logger or fmt is harmless. It has a
// value receiver so that printing a dereferenced Keys is covered too.
func (k Keys) String() string {
	n := 0
	for _, d := range k.functions {
		n += len(d)
	}
	return fmt.Sprintf("auth.Keys{master:%d host:%d function:%d devMode:%v}", len(k.master), len(k.host), n, k.DevMode)
}

// GoString keeps %#v from printing the key digests.
func (k Keys) GoString() string { return k.String() }

// LogValue is String for log/slog.
func (k Keys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Decision is the outcome of Authorize.
type Decision struct {
	Allowed bool
	// Admin is true when the request presented the master key (or DevMode
	// applies), which management routes require.
	Admin bool
	// Reason explains a refusal for logs and error bodies; it never contains
	// key material.
	Reason string
}

// Authorize decides whether r may call function at level. The key comes from
// the x-functions-key header or, only when that header is absent, the code
// query parameter. function level accepts that function's keys, any host key
// or the master key; admin level only the master key. When no key is
// configured at all, requests are refused (fail closed) unless DevMode is set.
// Errors are reserved for misuse: a nil request or an unknown level.
func (k *Keys) Authorize(r *http.Request, function string, level Level) (Decision, error) {
	if r == nil {
		return Decision{}, errors.New("auth: nil request")
	}
	switch level {
	case LevelAnonymous, LevelFunction, LevelAdmin:
	default:
		return Decision{}, fmt.Errorf("auth: unknown level %v", level)
	}
	if !k.Configured() {
		if k != nil && k.DevMode {
			return Decision{Allowed: true, Admin: true, Reason: "development mode: no keys configured"}, nil
		}
		if level == LevelAnonymous {
			return Decision{Allowed: true}, nil
		}
		return Decision{Reason: "no function keys are configured"}, nil
	}
	presented, ok := presentedKey(r)
	var isMaster, isHost, isFunction int
	if ok {
		h := hashKey(presented)
		isMaster = matchAny(h, k.master)
		isHost = matchAny(h, k.host)
		isFunction = matchAny(h, k.functions[strings.ToLower(function)])
	}
	admin := isMaster == 1
	switch level {
	case LevelAnonymous:
		return Decision{Allowed: true, Admin: admin}, nil
	case LevelAdmin:
		if admin {
			return Decision{Allowed: true, Admin: true}, nil
		}
	default:
		if isMaster|isHost|isFunction == 1 {
			return Decision{Allowed: true, Admin: admin}, nil
		}
	}
	if !ok {
		return Decision{Reason: "missing key: send the " + KeyHeader + " header or the " + KeyQueryParam + " query parameter"}, nil
	}
	if level == LevelAdmin {
		return Decision{Reason: "admin level requires the master key"}, nil
	}
	return Decision{Reason: "invalid key"}, nil
}

// presentedKey returns the key the request carries, following the host's
// precedence: the header wins when present, even if empty.
func presentedKey(r *http.Request) (string, bool) {
	if vs, ok := r.Header[http.CanonicalHeaderKey(KeyHeader)]; ok {
		if len(vs) == 0 || vs[0] == "" {
			return "", false
		}
		return vs[0], true
	}
	if r.URL == nil {
		return "", false
	}
	code := r.URL.Query().Get(KeyQueryParam)
	return code, code != ""
}

// matchAny compares h with every candidate without stopping early, so the time
// taken depends only on how many candidates there are.
func matchAny(h digest, candidates []digest) int {
	found := 0
	for i := range candidates {
		found |= subtle.ConstantTimeCompare(h[:], candidates[i][:])
	}
	return found
}
