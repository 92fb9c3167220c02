package storage

import "github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

// TableClient is an SDK client for one table of the account, for app code that reads
// its own tables (it shares the account's credentials and request counting).
func (a *Account) TableClient(name string) *aztables.Client { return a.tables.NewClient(name) }
