package auth

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	masterKey = "master-SECRET-aaaaaaaaaaaaaaaaaaaaaaaaaaa=="
	hostKey1  = "host-SECRET-one"
	hostKey2  = "host-SECRET-two=="
	bareHost  = "bareHostKeyWithPadding=="
	fnKeyA    = "fn-a-SECRET"
	fnKeyA2   = "fn-a-SECRET-second"
	fnKeyB    = "fn-b-SECRET"
	fnKeyDash = "fn-dash-SECRET"
)

func testEnv() map[string]string {
	return map[string]string{
		SettingMasterKey:           masterKey,
		SettingHostKeys:            "default=" + hostKey1 + ", ci=" + hostKey2 + "," + bareHost,
		"FUNCTIONS_KEY_STARTORDER": fnKeyA + " , " + fnKeyA2,
		"FUNCTIONS_KEY_OTHER":      fnKeyB,
		"FUNCTIONS_KEY_GET_STATUS": fnKeyDash,
	}
}

func loadTestKeys(t *testing.T, env map[string]string) *Keys {
	t.Helper()
	k, err := LoadKeys(func(s string) string { return env[s] }, []string{"StartOrder", "other", "get-status", "nokeys"})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func request(header, code string) *http.Request {
	target := "/api/orders"
	if code != "" {
		target += "?code=" + code
	}
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if header != "" {
		r.Header.Set(KeyHeader, header)
	}
	return r
}

func TestAuthorize(t *testing.T) {
	keys := loadTestKeys(t, testEnv())
	cases := []struct {
		name     string
		header   string
		code     string
		function string
		level    Level
		allowed  bool
		admin    bool
	}{
		{"function key in header", fnKeyA, "", "StartOrder", LevelFunction, true, false},
		{"second function key in query", "", fnKeyA2, "StartOrder", LevelFunction, true, false},
		{"function name case-insensitive", fnKeyA, "", "startorder", LevelFunction, true, false},
		{"dashed function name via env-safe setting", fnKeyDash, "", "get-status", LevelFunction, true, false},
		{"function key of another function", fnKeyB, "", "StartOrder", LevelFunction, false, false},
		{"host key named", hostKey1, "", "StartOrder", LevelFunction, true, false},
		{"host key with padding", "", hostKey2, "other", LevelFunction, true, false},
		{"bare host key with padding", bareHost, "", "nokeys", LevelFunction, true, false},
		{"host key name is not a key", "default", "", "nokeys", LevelFunction, false, false},
		{"master key at function level", masterKey, "", "nokeys", LevelFunction, true, true},
		{"wrong key", "nope", "", "StartOrder", LevelFunction, false, false},
		{"no key", "", "", "StartOrder", LevelFunction, false, false},
		{"header wins over query", "nope", fnKeyA, "StartOrder", LevelFunction, false, false},
		{"query used without header", "", fnKeyA, "StartOrder", LevelFunction, true, false},
		{"master key on admin", masterKey, "", "StartOrder", LevelAdmin, true, true},
		{"master key on admin via query", "", masterKey, "StartOrder", LevelAdmin, true, true},
		{"host key on admin", hostKey1, "", "StartOrder", LevelAdmin, false, false},
		{"function key on admin", fnKeyA, "", "StartOrder", LevelAdmin, false, false},
		{"anonymous without key", "", "", "StartOrder", LevelAnonymous, true, false},
		{"anonymous with wrong key", "nope", "", "StartOrder", LevelAnonymous, true, false},
		{"anonymous with master key is admin", masterKey, "", "StartOrder", LevelAnonymous, true, true},
		{"key prefix is not the key", fnKeyA[:5], "", "StartOrder", LevelFunction, false, false},
		{"key with suffix is not the key", fnKeyA + "x", "", "StartOrder", LevelFunction, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := keys.Authorize(request(c.header, c.code), c.function, c.level)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != c.allowed || d.Admin != c.admin {
				t.Errorf("Decision = %+v, want allowed=%v admin=%v", d, c.allowed, c.admin)
			}
			if !d.Allowed && d.Reason == "" {
				t.Error("refusal without a reason")
			}
			assertNoSecrets(t, d.Reason)
		})
	}
}

func TestDevMode(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		devMode bool
		level   Level
		allowed bool
		admin   bool
	}{
		{"dev mode, no keys, admin route", nil, true, LevelAdmin, true, true},
		{"dev mode, no keys, function route", nil, true, LevelFunction, true, true},
		{"no dev mode, no keys, fail closed", nil, false, LevelFunction, false, false},
		{"no dev mode, no keys, anonymous", nil, false, LevelAnonymous, true, false},
		{"dev mode ignored once keys exist", map[string]string{SettingMasterKey: masterKey}, true, LevelFunction, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := loadTestKeys(t, c.env)
			k.DevMode = c.devMode
			d, err := k.Authorize(request("", ""), "StartOrder", c.level)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != c.allowed || d.Admin != c.admin {
				t.Errorf("Decision = %+v, want allowed=%v admin=%v", d, c.allowed, c.admin)
			}
		})
	}
	var nilKeys *Keys
	if d, err := nilKeys.Authorize(request("", ""), "x", LevelFunction); err != nil || d.Allowed {
		t.Errorf("nil Keys = %+v, %v", d, err)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	k := loadTestKeys(t, testEnv())
	if _, err := k.Authorize(nil, "x", LevelFunction); err == nil {
		t.Error("nil request accepted")
	}
	if _, err := k.Authorize(request("", ""), "x", Level(42)); err == nil {
		t.Error("unknown level accepted")
	}
	r := &http.Request{Header: http.Header{}}
	if d, err := k.Authorize(r, "x", LevelFunction); err != nil || d.Allowed {
		t.Errorf("request without URL = %+v, %v", d, err)
	}
}

func TestConfigured(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{SettingHostKeys: " , "}, false},
		{map[string]string{SettingMasterKey: "m"}, true},
		{map[string]string{SettingHostKeys: "a=b"}, true},
		{map[string]string{"FUNCTIONS_KEY_OTHER": "k"}, true},
		{map[string]string{"FUNCTIONS_KEY_UNLISTED": "k"}, false},
	}
	for _, c := range cases {
		if got := loadTestKeys(t, c.env).Configured(); got != c.want {
			t.Errorf("Configured(%v) = %v, want %v", c.env, got, c.want)
		}
	}
	var nilKeys *Keys
	if nilKeys.Configured() {
		t.Error("nil Keys configured")
	}
}

func TestLoadKeysErrors(t *testing.T) {
	if _, err := LoadKeys(nil, nil); err == nil {
		t.Error("nil getenv accepted")
	}
	env := map[string]string{SettingMasterKey: "a,b"}
	_, err := LoadKeys(func(s string) string { return env[s] }, nil)
	if err == nil {
		t.Fatal("two master keys accepted")
	}
	assertNoSecrets(t, err.Error())
}

func TestParseLevel(t *testing.T) {
	cases := []struct {
		in   string
		want Level
		err  bool
	}{
		{"anonymous", LevelAnonymous, false},
		{"Anonymous", LevelAnonymous, false},
		{"function", LevelFunction, false},
		{"", LevelFunction, false},
		{" ADMIN ", LevelAdmin, false},
		{"system", 0, true},
		{"user", 0, true},
	}
	for _, c := range cases {
		got, err := ParseLevel(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseLevel(%q) = %v, %v", c.in, got, err)
		}
		if !c.err && got.String() != strings.ToLower(strings.TrimSpace(c.in)) && c.in != "" {
			t.Errorf("String() = %q", got.String())
		}
	}
	if s := Level(9).String(); s != "Level(9)" {
		t.Errorf("unknown level String = %q", s)
	}
}

// TestKeysNeverPrinted guards against key material leaking through fmt or slog.
func TestKeysNeverPrinted(t *testing.T) {
	k := loadTestKeys(t, testEnv())
	var sb strings.Builder
	logger := slog.New(slog.NewTextHandler(&sb, nil))
	logger.Info("keys", "keys", k)
	logger.Info("keys", "keys", *k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %s %#v %v %#v", k, k, k, k, *k, *k), sb.String()} {
		assertNoSecrets(t, s)
		if !strings.Contains(s, "master:1") {
			t.Errorf("unexpected description %q", s)
		}
	}
}

func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, "SECRET") {
		t.Errorf("key material in %q", s)
	}
}
