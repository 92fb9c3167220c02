package storage

import (
	"context"
	"errors"
)

// QueueLength is the approximate number of messages (visible or not) in queue name,
// without creating the queue: exists is false when there is no such queue (a
// poison queue appears only once a message is poisoned, and looking must not
// create it).
func (a *Account) QueueLength(ctx context.Context, name string) (n int, exists bool, err error) {
	q := &azureQueue{name: name, c: a.queues.NewQueueClient(name), acct: a}
	n, err = q.Length(ctx)
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return n, true, nil
}
