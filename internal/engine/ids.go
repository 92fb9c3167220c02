package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
)

// NewInstanceID returns a fresh instance id in DF's form: the 32 lower-case hex
// digits of a random UUID, without dashes (.NET's Guid.NewGuid().ToString("N")), so
// ids look the same in logs, dashboards and URLs as they do under DF.
func NewInstanceID() string {
	u := uuid.New()
	return hex.EncodeToString(u[:])
}

// InstanceLinkToken is the capability that lets whoever holds an instance's
// check-status URLs use them without a key: an HMAC of the task hub and instance id
// under the app's secret (the one idempotent ids are derived with, under its own
// label so neither value reveals the other). It never expires; changing
// DURABLE_INSTANCE_ID_SECRET revokes every token at once.
func (h *Hub) InstanceLinkToken(ctx context.Context, instanceID string) (string, error) {
	key, err := h.idSecret(ctx)
	if err != nil {
		return "", err
	}
	return linkToken(key, h.cfg.TaskHub, instanceID), nil
}

// CheckInstanceLinkToken reports whether token is InstanceLinkToken(instanceID), in
// constant time.
func (h *Hub) CheckInstanceLinkToken(ctx context.Context, instanceID, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	key, err := h.idSecret(ctx)
	if err != nil {
		return false, err
	}
	return hmac.Equal([]byte(token), []byte(linkToken(key, h.cfg.TaskHub, instanceID))), nil
}

func linkToken(key []byte, hub, instanceID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("link|" + strings.ToLower(hub) + "|" + instanceID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
