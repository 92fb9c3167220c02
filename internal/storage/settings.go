// Package storage is the only place that talks to Azure Table and Queue storage. It
// turns the Functions connection settings into SDK clients, and offers the engine a
// small Table/Queue interface whose Azure implementation is the source of truth.
package storage

import (
	"fmt"
	"strings"
)

// Azurite's well-known development account. The Go SDK does not understand
// "UseDevelopmentStorage=true", so it is expanded to these values.
const (
	devAccountName = "devstoreaccount1"
	devAccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Settings are the resolved endpoints and credentials of one storage connection.
type Settings struct {
	AccountName string
	AccountKey  string // empty for identity-based connections
	TableURL    string
	QueueURL    string
	BlobURL     string
	// Credential is "managedidentity" (optionally with ClientID) or "" for the
	// default credential chain; used only when AccountKey is empty.
	Credential string
	ClientID   string
}

// UsesSharedKey reports whether the connection authenticates with an account key.
func (s Settings) UsesSharedKey() bool { return s.AccountKey != "" }

// ResolveConnection reads a Functions connection named name (usually
// "AzureWebJobsStorage") the way the host does: either a connection string in the
// setting itself, or identity-based settings "<name>__accountName",
// "<name>__tableServiceUri", "<name>__queueServiceUri", "<name>__credential",
// "<name>__clientId".
func ResolveConnection(name string, getenv func(string) string) (Settings, error) {
	if cs := strings.TrimSpace(getenv(name)); cs != "" {
		return ParseConnectionString(cs)
	}
	get := func(suffix string) string {
		// The host accepts both "__" and ":" as the section separator.
		if v := getenv(name + "__" + suffix); v != "" {
			return v
		}
		return getenv(name + ":" + suffix)
	}
	s := Settings{
		AccountName: get("accountName"),
		TableURL:    get("tableServiceUri"),
		QueueURL:    get("queueServiceUri"),
		BlobURL:     get("blobServiceUri"),
		Credential:  strings.ToLower(get("credential")),
		ClientID:    get("clientId"),
	}
	if s.AccountName != "" {
		if s.TableURL == "" {
			s.TableURL = "https://" + s.AccountName + ".table.core.windows.net"
		}
		if s.QueueURL == "" {
			s.QueueURL = "https://" + s.AccountName + ".queue.core.windows.net"
		}
		if s.BlobURL == "" {
			s.BlobURL = "https://" + s.AccountName + ".blob.core.windows.net"
		}
	}
	if s.TableURL == "" || s.QueueURL == "" {
		return Settings{}, fmt.Errorf("storage connection %q is not configured: set %s to a connection string (UseDevelopmentStorage=true for Azurite) or set %s__accountName, or both %s__tableServiceUri and %s__queueServiceUri", name, name, name, name, name)
	}
	s.TableURL = strings.TrimRight(s.TableURL, "/")
	s.QueueURL = strings.TrimRight(s.QueueURL, "/")
	s.BlobURL = strings.TrimRight(s.BlobURL, "/")
	return s, nil
}

// ParseConnectionString parses an Azure Storage connection string, including the
// "UseDevelopmentStorage=true[;DevelopmentStorageProxyUri=...]" shorthand.
func ParseConnectionString(cs string) (Settings, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(cs, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return Settings{}, fmt.Errorf("connection string: segment %q is not key=value", redactSegment(part))
		}
		kv[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if strings.EqualFold(kv["usedevelopmentstorage"], "true") {
		host := "http://127.0.0.1"
		if proxy := kv["developmentstorageproxyuri"]; proxy != "" {
			host = strings.TrimRight(proxy, "/")
		}
		return Settings{
			AccountName: devAccountName,
			AccountKey:  devAccountKey,
			TableURL:    host + ":10002/" + devAccountName,
			QueueURL:    host + ":10001/" + devAccountName,
			BlobURL:     host + ":10000/" + devAccountName,
		}, nil
	}
	s := Settings{AccountName: kv["accountname"], AccountKey: kv["accountkey"]}
	if s.AccountName == "" {
		return Settings{}, fmt.Errorf("connection string has no AccountName")
	}
	if s.AccountKey == "" {
		return Settings{}, fmt.Errorf("connection string has no AccountKey (SAS connection strings are not supported; use an identity-based connection)")
	}
	proto := kv["defaultendpointsprotocol"]
	if proto == "" {
		proto = "https"
	}
	suffix := kv["endpointsuffix"]
	if suffix == "" {
		suffix = "core.windows.net"
	}
	endpoint := func(key, service string) string {
		if v := kv[key]; v != "" {
			return strings.TrimRight(v, "/")
		}
		return fmt.Sprintf("%s://%s.%s.%s", proto, s.AccountName, service, suffix)
	}
	s.TableURL = endpoint("tableendpoint", "table")
	s.QueueURL = endpoint("queueendpoint", "queue")
	s.BlobURL = endpoint("blobendpoint", "blob")
	return s, nil
}

// redactSegment keeps error messages from echoing secrets found in a malformed segment.
func redactSegment(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}
