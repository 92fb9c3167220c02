package deploytest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The app settings contract between infra/ and the code.
//
// deployedSettings are the settings the Bicep must give the function app, with who reads
// them. "handler" settings must appear as string literals in the handler binary's Go
// sources, so renaming one in Go without updating the Bicep fails this test.
var deployedSettings = map[string]string{
	// Identity-based AzureWebJobsStorage (the account refuses shared keys). The host uses
	// it for queue triggers, keys, leases and timers; the handler resolves the same
	// connection (internal/storage/settings.go) for the task hub tables and queues.
	"AzureWebJobsStorage__credential":      "handler",
	"AzureWebJobsStorage__clientId":        "handler",
	"AzureWebJobsStorage__blobServiceUri":  "handler",
	"AzureWebJobsStorage__queueServiceUri": "handler",
	"AzureWebJobsStorage__tableServiceUri": "handler",
	// Task hub name: internal/app, and %DURABLE_TASK_HUB% in function.json queue names.
	"DURABLE_TASK_HUB": "handler",
	// Telemetry, sent by the Functions host.
	"APPLICATIONINSIGHTS_CONNECTION_STRING": "host",
}

// extraSettings may be set too, and nothing else may:
var extraSettings = map[string]string{
	// Application Insights is created with local (instrumentation key) auth disabled, so
	// the host must authenticate its telemetry with the identity: "ClientId=...;Authorization=AAD".
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "host",
}

// forbiddenInBicep must not appear anywhere in the Bicep code (comments aside), each for a
// reason a reviewer might otherwise miss.
var forbiddenInBicep = map[string]string{
	"FUNCTIONS_WORKER_RUNTIME":                 "Flex Consumption takes the runtime from functionAppConfig.runtime and rejects this app setting",
	"FUNCTIONS_EXTENSION_VERSION":              "not an app setting on Flex Consumption",
	"WEBSITE_RUN_FROM_PACKAGE":                 "Flex Consumption deploys from functionAppConfig.deployment",
	"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "Flex Consumption has no content share, and the account takes no keys",
	"WEBSITE_CONTENTSHARE":                     "Flex Consumption has no content share",
	"FUNCTIONS_MASTER_KEY":                     "standalone-mode keys: under the host, keys are the host's (az functionapp keys)",
	"FUNCTIONS_HOST_KEYS":                      "standalone-mode keys: under the host, keys are the host's (az functionapp keys)",
	"FUNCTIONS_KEY_":                           "standalone-mode keys: under the host, keys are the host's (az functionapp function keys)",
	"listKeys(":                                "the storage account refuses shared keys; use the identity",
	"AccountKey=":                              "the storage account refuses shared keys; use the identity",
}

// Azure built-in role definition ids the identity needs.
var requiredRoles = map[string]string{
	"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
	"974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
	"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

// The task hub rule of internal/engine (ValidateTaskHub).
var taskHubRE = regexp.MustCompile(`^[a-z][a-z0-9]{2,40}$`)

// bicepAppSettings returns the app setting names of the function app: the keys of the
// one Microsoft.Web/sites/config 'appsettings' resource, which must be a literal object.
func bicepAppSettings(t *testing.T, files map[string]*bicepFile) (map[string]string, *bicepFile) {
	t.Helper()
	var found []string
	var settings map[string]string
	var where *bicepFile
	for _, name := range sortedKeys(files) {
		f := files[name]
		if m := regexp.MustCompile(`\bappSettings\s*:\s*\[`).FindStringIndex(f.masked); m != nil {
			t.Errorf("infra/%s:%d: siteConfig.appSettings: set app settings only in the 'appsettings' config resource", f.path, f.lineOf(m[0]))
		}
		for _, d := range f.decls() {
			if d.kind != "resource" || d.existing || d.body < 0 {
				continue
			}
			if d.typ != "config" && !strings.HasPrefix(d.typ, "Microsoft.Web/sites/config@") {
				continue
			}
			if v, _, _ := f.lookup(d.body, "name"); v != "'appsettings'" {
				continue
			}
			found = append(found, f.path+":"+d.name)
			_, off, ok := f.lookup(d.body, "properties")
			open := -1
			if ok {
				open = f.objectAt(off)
			}
			if open < 0 {
				t.Fatalf("infra/%s:%d: the appsettings properties must be a literal object, so the settings can be checked", f.path, f.lineOf(d.body))
			}
			settings, _ = f.entries(open)
			where = f
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one 'appsettings' config resource in infra/, found %v", found)
	}
	return settings, where
}

// handlerStringLiterals returns every string literal in the non-test Go files of the
// packages linked into the handler binary (this module's part of `go list -deps ./handler`).
func handlerStringLiterals(t *testing.T, root string) map[string]bool {
	t.Helper()
	cmd := exec.Command(goTool(t), "list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}{{"\t"}}{{.Dir}}{{"\t"}}{{join .GoFiles " "}}{{end}}`, "./handler")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./handler: %v", err)
	}
	lits := map[string]bool{}
	fset := token.NewFileSet()
	pkgs := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 || (parts[0] != modulePath && !strings.HasPrefix(parts[0], modulePath+"/")) {
			continue
		}
		pkgs++
		for _, name := range strings.Fields(parts[2]) {
			file, err := parser.ParseFile(fset, filepath.Join(parts[1], name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						lits[s] = true
					}
				}
				return true
			})
		}
	}
	if pkgs == 0 {
		t.Fatalf("go list found no %s packages behind ./handler:\n%s", modulePath, out)
	}
	return lits
}

// TestAppSettingsContract checks that the Bicep sets exactly the app settings the handler
// and the host need, that the handler really reads the ones attributed to it, and that
// every setting the function.json files refer to is provided.
func TestAppSettingsContract(t *testing.T) {
	root := repoRoot(t)
	files := loadBicep(t, root)
	settings, where := bicepAppSettings(t, files)

	for name, reader := range deployedSettings {
		if _, ok := settings[name]; !ok {
			t.Errorf("infra/%s: app setting %s (read by the %s) is not set", where.path, name, reader)
		}
	}
	for name := range settings {
		if deployedSettings[name] == "" && extraSettings[name] == "" {
			t.Errorf("infra/%s: app setting %s is neither read by the handler or the host (deployedSettings) nor allowed (extraSettings)", where.path, name)
		}
	}
	for name, val := range settings {
		if val == "" || val == "''" {
			t.Errorf("infra/%s: app setting %s is empty", where.path, name)
		}
	}
	if v := settings["AzureWebJobsStorage__credential"]; v != "'managedidentity'" {
		t.Errorf("AzureWebJobsStorage__credential = %s, want 'managedidentity' (what internal/storage understands)", v)
	}
	for name, svc := range map[string]string{"blob": "blobServiceUri", "queue": "queueServiceUri", "table": "tableServiceUri"} {
		if v := settings["AzureWebJobsStorage__"+svc]; !strings.Contains(v, "primaryEndpoints."+name) {
			t.Errorf("AzureWebJobsStorage__%s = %s, want the account's primaryEndpoints.%s", svc, v, name)
		}
	}

	// (c) The handler's settings are literals in the handler's code.
	lits := handlerStringLiterals(t, root)
	for _, name := range sortedKeys(deployedSettings) {
		if deployedSettings[name] != "handler" {
			continue
		}
		want := []string{name}
		if conn, suffix, ok := strings.Cut(name, "__"); ok {
			// internal/storage reads getenv(connection + "__" + suffix).
			want = []string{conn, "__", suffix}
		}
		for _, lit := range want {
			if !lits[lit] {
				t.Errorf("setting %s: the handler's Go sources have no string literal %q; was it renamed? Update infra/ and this test together", name, lit)
			}
		}
	}

	// function.json: %SETTING% placeholders and binding connections must resolve.
	placeholder := regexp.MustCompile(`%([^%\s]+)%`)
	for _, fn := range functionFolders(t, root) {
		p := filepath.Join(root, fn, "function.json")
		var doc struct {
			Bindings []map[string]any `json:"bindings"`
		}
		readJSON(t, p, &doc)
		for _, m := range placeholder.FindAllStringSubmatch(readFile(t, p), -1) {
			if _, ok := settings[m[1]]; !ok {
				t.Errorf("%s/function.json uses %%%s%%, which the Bicep does not set", fn, m[1])
			}
		}
		for _, b := range doc.Bindings {
			typ, _ := b["type"].(string)
			conn, _ := b["connection"].(string)
			if conn == "" && (strings.HasPrefix(typ, "queue") || strings.HasPrefix(typ, "blob") || strings.HasPrefix(typ, "table")) {
				conn = "AzureWebJobsStorage"
			}
			if conn == "" {
				continue
			}
			ok := false
			for name := range settings {
				ok = ok || name == conn || strings.HasPrefix(name, conn+"__")
			}
			if !ok {
				t.Errorf("%s/function.json binding %s uses connection %s, which the Bicep does not configure", fn, typ, conn)
			}
		}
	}

	for _, name := range sortedKeys(files) {
		f := files[name]
		for word, why := range forbiddenInBicep {
			if i := strings.Index(f.code, word); i >= 0 {
				t.Errorf("infra/%s:%d: %s: %s", f.path, f.lineOf(i), word, why)
			}
		}
	}
}

// TestBicepResources checks the security and hosting properties the app relies on.
func TestBicepResources(t *testing.T) {
	root := repoRoot(t)
	files := loadBicep(t, root)

	type res struct {
		f *bicepFile
		d bicepDecl
	}
	byType := map[string][]res{}
	all := ""
	for _, name := range sortedKeys(files) {
		f := files[name]
		all += f.code + "\n"
		for _, d := range f.decls() {
			if d.kind == "resource" && !d.existing {
				typ, _, _ := strings.Cut(d.typ, "@")
				byType[typ] = append(byType[typ], res{f, d})
			}
		}
	}
	one := func(typ string) (res, bool) {
		if len(byType[typ]) != 1 {
			t.Errorf("want exactly one %s resource in infra/, found %d", typ, len(byType[typ]))
			return res{}, false
		}
		return byType[typ][0], true
	}
	get := func(r res, keys ...string) string {
		v, _, ok := r.f.lookup(r.d.body, keys...)
		if !ok {
			t.Errorf("infra/%s: resource %s has no %s", r.f.path, r.d.name, strings.Join(keys, "."))
		}
		return v
	}

	if st, ok := one("Microsoft.Storage/storageAccounts"); ok {
		for key, want := range map[string]string{
			"allowSharedKeyAccess":  "false",
			"allowBlobPublicAccess": "false",
			"minimumTlsVersion":     "'TLS1_2'",
		} {
			if v := get(st, "properties", key); v != want {
				t.Errorf("infra/%s: storage properties.%s = %q, want %s", st.f.path, key, v, want)
			}
		}
	}
	if plan, ok := one("Microsoft.Web/serverfarms"); ok {
		if v := get(plan, "sku", "name"); v != "'FC1'" {
			t.Errorf("plan sku.name = %s, want 'FC1'", v)
		}
		if v := get(plan, "sku", "tier"); v != "'FlexConsumption'" {
			t.Errorf("plan sku.tier = %s, want 'FlexConsumption'", v)
		}
		if v := get(plan, "properties", "reserved"); v != "true" {
			t.Errorf("plan properties.reserved = %s, want true (Linux)", v)
		}
	}
	if site, ok := one("Microsoft.Web/sites"); ok {
		if v := get(site, "kind"); v != "'functionapp,linux'" {
			t.Errorf("site kind = %s, want 'functionapp,linux'", v)
		}
		if v := get(site, "properties", "functionAppConfig", "runtime", "name"); v != "'custom'" {
			t.Errorf("functionAppConfig.runtime.name = %s, want 'custom' (custom handler)", v)
		}
		if v := get(site, "properties", "functionAppConfig", "runtime", "version"); v != "'1.0'" {
			t.Errorf("functionAppConfig.runtime.version = %s, want '1.0'", v)
		}
		if v := get(site, "properties", "functionAppConfig", "deployment", "storage", "type"); v != "'blobContainer'" {
			t.Errorf("functionAppConfig.deployment.storage.type = %s, want 'blobContainer'", v)
		}
		if v := get(site, "properties", "functionAppConfig", "deployment", "storage", "authentication", "type"); v != "'UserAssignedIdentity'" {
			t.Errorf("deployment storage authentication.type = %s, want 'UserAssignedIdentity'", v)
		}
		get(site, "properties", "functionAppConfig", "deployment", "storage", "authentication", "userAssignedIdentityResourceId")
		get(site, "properties", "functionAppConfig", "scaleAndConcurrency", "instanceMemoryMB")
		get(site, "properties", "functionAppConfig", "scaleAndConcurrency", "maximumInstanceCount")
		if v := get(site, "identity", "type"); v != "'UserAssigned'" {
			t.Errorf("site identity.type = %s, want 'UserAssigned'", v)
		}
		if v := get(site, "tags"); !strings.Contains(v, "'azd-service-name'") {
			t.Errorf("site tags = %s: want an azd-service-name tag (azd finds the app by it)", v)
		}
	}
	one("Microsoft.ManagedIdentity/userAssignedIdentities")
	one("Microsoft.OperationalInsights/workspaces")
	if ai, ok := one("Microsoft.Insights/components"); ok {
		get(ai, "properties", "WorkspaceResourceId")
	}
	if len(byType["Microsoft.Authorization/roleAssignments"]) == 0 {
		t.Error("no role assignments in infra/")
	}
	for id, name := range requiredRoles {
		if !strings.Contains(all, "'"+id+"'") {
			t.Errorf("role %s (%s) is not assigned in infra/", name, id)
		}
	}
}

// TestBicepWiring checks what a Bicep compiler would: module paths, params passed
// against params declared, module outputs referenced against outputs declared, the
// abbreviations used, and the main template's scope, parameters file and outputs.
func TestBicepWiring(t *testing.T) {
	root := repoRoot(t)
	files := loadBicep(t, root)
	var abbrs map[string]string
	readJSON(t, filepath.Join(root, "infra", "abbreviations.json"), &abbrs)

	for _, name := range sortedKeys(files) {
		f := files[name]
		for _, d := range f.decls() {
			if d.kind == "param" && strings.Count(f.code, d.name) < 2 {
				t.Errorf("infra/%s: param %s is never used", f.path, d.name)
			}
		}
		modules := f.find("module")
		for _, mname := range sortedKeys(modules) {
			m := modules[mname]
			target := files[path.Clean(path.Join(path.Dir(f.path), m.typ))]
			if target == nil {
				t.Errorf("infra/%s: module %s: %s is not a .bicep file under infra/", f.path, mname, m.typ)
				continue
			}
			passed := map[string]string{}
			if _, off, ok := f.lookup(m.body, "params"); ok && f.objectAt(off) >= 0 {
				passed, _ = f.entries(f.objectAt(off))
			}
			declared := target.find("param")
			for p := range passed {
				if _, ok := declared[p]; !ok {
					t.Errorf("infra/%s: module %s passes %s, which %s does not declare", f.path, mname, p, target.path)
				}
			}
			for p, d := range declared {
				if _, ok := passed[p]; !ok && !d.hasDefault {
					t.Errorf("infra/%s: module %s does not pass %s, which %s requires", f.path, mname, p, target.path)
				}
			}
			outputs := target.find("output")
			for _, ref := range regexp.MustCompile(`\b`+mname+`\.outputs\.([A-Za-z_]\w*)`).FindAllStringSubmatch(f.code, -1) {
				if _, ok := outputs[ref[1]]; !ok {
					t.Errorf("infra/%s: %s.outputs.%s: %s has no such output", f.path, mname, ref[1], target.path)
				}
			}
		}
		for _, ref := range regexp.MustCompile(`\babbrs\.([A-Za-z_]\w*)`).FindAllStringSubmatch(f.code, -1) {
			if _, ok := abbrs[ref[1]]; !ok {
				t.Errorf("infra/%s: abbrs.%s is not in abbreviations.json", f.path, ref[1])
			}
		}
		for _, ref := range regexp.MustCompile(`load(?:Json|Text|Yaml)Content\('([^']+)'`).FindAllStringSubmatch(f.code, -1) {
			if _, err := os.Stat(filepath.Join(root, "infra", filepath.Dir(f.path), ref[1])); err != nil {
				t.Errorf("infra/%s: %s: %v", f.path, ref[0], err)
			}
		}
	}

	main := files["main.bicep"]
	if !regexp.MustCompile(`(?m)^targetScope\s*=\s*'subscription'`).MatchString(main.code) {
		t.Error("infra/main.bicep: want targetScope = 'subscription' (it creates the resource group)")
	}
	outputs := main.find("output")
	for _, o := range []string{"AZURE_FUNCTION_APP_NAME", "AZURE_FUNCTION_URI", "RESOURCE_GROUP", "AZURE_RESOURCE_GROUP", "AZURE_LOCATION"} {
		if _, ok := outputs[o]; !ok {
			t.Errorf("infra/main.bicep: no output %s", o)
		}
	}

	// main.parameters.json: its parameters are main.bicep's, and cover the required ones.
	var pf struct {
		Schema         string                     `json:"$schema"`
		ContentVersion string                     `json:"contentVersion"`
		Parameters     map[string]json.RawMessage `json:"parameters"`
	}
	readJSON(t, filepath.Join(root, "infra", "main.parameters.json"), &pf)
	if !strings.Contains(pf.Schema, "deploymentParameters.json") {
		t.Errorf("main.parameters.json $schema = %q, want the deploymentParameters schema", pf.Schema)
	}
	if pf.ContentVersion == "" {
		t.Error("main.parameters.json has no contentVersion")
	}
	values := map[string]string{}
	for name, raw := range pf.Parameters {
		var v struct {
			Value *string `json:"value"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || v.Value == nil {
			t.Errorf("main.parameters.json %s: want {\"value\": \"...\"}", name)
			continue
		}
		values[name] = *v.Value
	}
	for name, want := range map[string]string{"environmentName": "${AZURE_ENV_NAME}", "location": "${AZURE_LOCATION}"} {
		if values[name] != want {
			t.Errorf("main.parameters.json %s = %q, want %q", name, values[name], want)
		}
	}
	params := main.find("param")
	for name := range values {
		if _, ok := params[name]; !ok {
			t.Errorf("main.parameters.json sets %s, which infra/main.bicep does not declare", name)
		}
	}
	for name, d := range params {
		if _, ok := values[name]; !ok && !d.hasDefault {
			t.Errorf("infra/main.bicep param %s has no default and is not in main.parameters.json", name)
		}
	}

	// The task hub default, in the template and the parameters file, passes the handler's rule.
	if m := regexp.MustCompile(`(?m)^param\s+durableTaskHub\s+string\s*=\s*'([^']*)'`).FindStringSubmatch(main.code); m == nil {
		t.Error("infra/main.bicep: no param durableTaskHub string = '...'")
	} else if !taskHubRE.MatchString(m[1]) {
		t.Errorf("infra/main.bicep durableTaskHub default %q is not a valid task hub name", m[1])
	}
	if m := regexp.MustCompile(`^\$\{DURABLE_TASK_HUB=([^}]*)\}$`).FindStringSubmatch(values["durableTaskHub"]); m == nil {
		t.Errorf("main.parameters.json durableTaskHub = %q, want ${DURABLE_TASK_HUB=<default>}", values["durableTaskHub"])
	} else if !taskHubRE.MatchString(m[1]) {
		t.Errorf("main.parameters.json durableTaskHub default %q is not a valid task hub name", m[1])
	}
}

// TestAbbreviations checks infra/abbreviations.json is a flat object of short prefixes.
func TestAbbreviations(t *testing.T) {
	var abbrs map[string]string
	readJSON(t, filepath.Join(repoRoot(t), "infra", "abbreviations.json"), &abbrs)
	if len(abbrs) == 0 {
		t.Fatal("abbreviations.json is empty")
	}
	valid := regexp.MustCompile(`^[a-z][a-z0-9-]{0,9}$`)
	for k, v := range abbrs {
		if !valid.MatchString(v) {
			t.Errorf("abbreviations.json %s = %q: want a short lower-case prefix", k, v)
		}
	}
	// Storage account names allow no hyphen.
	if v := abbrs["storageStorageAccounts"]; strings.Contains(v, "-") {
		t.Errorf("storageStorageAccounts = %q: storage account names take no hyphen", v)
	}
}

// TestAzureYAML checks azure.yaml, line by line (no YAML library): one function service
// packaging dist/ with the prepackage hook that builds it.
func TestAzureYAML(t *testing.T) {
	root := repoRoot(t)
	src := readFile(t, filepath.Join(root, "azure.yaml"))
	noTabs(t, "azure.yaml", src)
	lines := map[string]bool{}
	for _, l := range strings.Split(src, "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" {
			lines[l] = true
		}
	}
	for _, want := range []string{"services:", "api:", "language: custom", "host: function", "dist: dist", "prepackage:", "posix:", "shell: sh", "run: ./scripts/dist.sh"} {
		if !lines[want] {
			t.Errorf("azure.yaml: no line %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^name:\s*\S+`).MatchString(src) {
		t.Error("azure.yaml: no top-level name")
	}
	if !lines["project: ."] && !lines["project: ./"] {
		t.Error("azure.yaml: want project: . (the app root, so dist: dist is dist/)")
	}
	st, err := os.Stat(filepath.Join(root, "scripts", "dist.sh"))
	if err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Errorf("scripts/dist.sh must exist and be executable: %v %v", err, st)
	}
}

// TestFuncignore checks .funcignore keeps sources and secrets out of a publish from the
// repo root, and keeps what the app needs in.
func TestFuncignore(t *testing.T) {
	src := readFile(t, filepath.Join(repoRoot(t), ".funcignore"))
	patterns := map[string]bool{}
	for _, l := range strings.Split(src, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns[l] = true
		}
	}
	for _, want := range []string{"handler/", "internal/", "durable/", "local.settings.json", ".git/", ".github/", ".tools/", ".azurite/", "infra/", "scripts/", "*.md", "dist/", "Makefile", "go.mod", "go.sum"} {
		if !patterns[want] {
			t.Errorf(".funcignore: no %q", want)
		}
	}
	for p := range patterns {
		if p == "host.json" || p == "*.json" || p == "bin" || p == "bin/" || p == "bin/handler" || p == "function.json" || p == "*" || strings.HasPrefix(p, "!") {
			t.Errorf(".funcignore: %q would drop or confuse what the app needs", p)
		}
	}
}

// TestWorkflow checks the CI workflow runs the repo's commands and deploys the tested package.
func TestWorkflow(t *testing.T) {
	src := readFile(t, filepath.Join(repoRoot(t), ".github", "workflows", "ci.yml"))
	noTabs(t, "ci.yml", src)
	for _, want := range []string{"go-version-file: go.mod", "node-version: 20", "run: make test", "run: make dist", "actions/upload-artifact@", "environment: production", "id-token: write", "azure/login@", "Azure/functions-action@", "sku: flexconsumption"} {
		if !strings.Contains(src, want) {
			t.Errorf("ci.yml: no %q", want)
		}
	}
}

func noTabs(t *testing.T, name, src string) {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, "\t") {
			t.Errorf("%s:%d: tab character (YAML indentation must be spaces)", name, i+1)
		}
	}
}
