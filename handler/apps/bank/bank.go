// Package bank is the critical-section sample: account entities and a transfer
// orchestration that locks both accounts, checks the balance and moves the money, so
// that no concurrent transfer can overdraw an account or lose money.
//
//	POST /api/bank/{account}/deposit?amount=100   -> 202
//	GET  /api/bank/{account}                      -> {"account": "a", "balance": 100}
//	POST /api/bank/transfer {"from","to","amount"} -> 202 + check-status body; result true/false
package bank

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
	"github.com/durablego/durablefunctions/handler/apps/checked"
)

// Names of the sample's entity and orchestrator.
const (
	EntityName   = "account_entity"
	Orchestrator = "transfer"
)

// ErrInsufficientFunds is the withdraw operation's error when the balance is too low.
var ErrInsufficientFunds = errors.New("insufficient funds")

// Account is the account entity: operations deposit, withdraw (amounts > 0) and balance.
func Account(ctx durable.EntityContext) error {
	var balance int64
	if err := ctx.GetState(&balance); err != nil {
		return err
	}
	amount := func() (int64, error) {
		var n int64
		if err := ctx.GetInput(&n); err != nil {
			return 0, fmt.Errorf("%s needs an integer amount: %w", ctx.Operation(), err)
		}
		if n <= 0 {
			return 0, fmt.Errorf("%s amount must be positive, got %d", ctx.Operation(), n)
		}
		return n, nil
	}
	switch strings.ToLower(ctx.Operation()) {
	case "deposit":
		n, err := amount()
		if err != nil {
			return err
		}
		if balance, err = checked.Add("balance", balance, n); err != nil {
			return err
		}
	case "withdraw":
		n, err := amount()
		if err != nil {
			return err
		}
		if n > balance {
			return fmt.Errorf("%w: balance %d, withdraw %d", ErrInsufficientFunds, balance, n)
		}
		balance -= n
	case "balance":
		return ctx.SetResult(balance)
	default:
		return fmt.Errorf("account has no operation %q (deposit, withdraw, balance)", ctx.Operation())
	}
	if err := ctx.SetState(balance); err != nil {
		return err
	}
	return ctx.SetResult(balance)
}

// Transfer is the transfer orchestration's input.
type Transfer struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
}

// Validate rejects transfers that make no sense before anything is locked.
func (t *Transfer) Validate() error {
	var errs []error
	if t.From == "" || t.To == "" {
		errs = append(errs, errors.New("from and to are required"))
	}
	if t.From == t.To && t.From != "" {
		errs = append(errs, errors.New("from and to must differ"))
	}
	if t.Amount <= 0 {
		errs = append(errs, errors.New("amount must be a positive integer"))
	}
	return errors.Join(errs...)
}

// TransferOrchestration locks both accounts, checks the source's balance, and moves
// the money: true when done, false on insufficient funds.
func TransferOrchestration(ctx durable.OrchestrationContext) (any, error) {
	var t Transfer
	if err := ctx.GetInput(&t); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	from, to := durable.NewEntityID(EntityName, t.From), durable.NewEntityID(EntityName, t.To)
	unlock, lock := ctx.LockEntities(from, to)
	if err := lock.Await(nil); err != nil {
		return nil, err
	}
	defer unlock()
	var balance int64
	if err := ctx.CallEntity(from, "balance", nil).Await(&balance); err != nil {
		return nil, err
	}
	if balance < t.Amount {
		return false, nil
	}
	if err := ctx.CallEntity(from, "withdraw", t.Amount).Await(nil); err != nil {
		return nil, err
	}
	if err := ctx.CallEntity(to, "deposit", t.Amount).Await(nil); err != nil {
		// The destination refused the money (its balance would overflow): put it
		// back, still under both locks, so no money is lost, and fail the transfer.
		// The source held it a moment ago, so the refund cannot overflow.
		if rerr := ctx.CallEntity(from, "deposit", t.Amount).Await(nil); rerr != nil {
			return nil, fmt.Errorf("deposit to %s failed (%w) and the refund to %s failed too: %w", t.To, err, t.From, rerr)
		}
		return nil, fmt.Errorf("transfer of %d from %s to %s refused, nothing moved: %w", t.Amount, t.From, t.To, err)
	}
	return true, nil
}

// Register adds the entity and the orchestration.
func Register(reg *durable.Registry) {
	reg.AddEntity(EntityName, Account)
	reg.AddOrchestrator(Orchestrator, TransferOrchestration)
}

// HTTP serves /api/bank/... (function folder bank_api, route bank/{*path}).
func HTTP(c durable.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs := funcapp.PathSegments(r, "path")
		switch {
		case r.Method == http.MethodPost && len(segs) == 1 && segs[0] == "transfer":
			var t Transfer
			if err := funcapp.DecodeJSON(r, 64<<10, &t); err != nil {
				if !errors.Is(err, funcapp.ErrBadJSON) {
					funcapp.WriteError(w, err)
					return
				}
				funcapp.WriteErrorf(w, http.StatusBadRequest, `body must be {"from": "a", "to": "b", "amount": 10}: %v`, err)
				return
			}
			if err := t.Validate(); err != nil {
				funcapp.WriteErrorf(w, http.StatusBadRequest, "%s", err.Error())
				return
			}
			for _, acct := range []string{t.From, t.To} {
				if err := funcapp.ValidateEntityID(durable.NewEntityID(EntityName, acct)); err != nil {
					funcapp.WriteErrorf(w, http.StatusBadRequest, "account %q: %v", acct, err)
					return
				}
			}
			funcapp.StartAndRespond(c, w, r, Orchestrator, t)
		case r.Method == http.MethodPost && len(segs) == 2 && segs[1] == "deposit":
			n, err := strconv.ParseInt(r.URL.Query().Get("amount"), 10, 64)
			if err != nil || n <= 0 {
				funcapp.WriteErrorf(w, http.StatusBadRequest, "%s", "amount must be a positive integer")
				return
			}
			if !funcapp.Signal(c, w, r, durable.NewEntityID(EntityName, segs[0]), "deposit", n) {
				return
			}
			funcapp.WriteJSON(w, http.StatusAccepted, map[string]any{"account": segs[0], "operation": "deposit", "amount": n})
		case r.Method == http.MethodGet && len(segs) == 1:
			snap, err := c.ReadEntity(r.Context(), durable.NewEntityID(EntityName, segs[0]))
			if err != nil {
				funcapp.WriteError(w, err)
				return
			}
			var b int64
			if snap.Exists {
				_ = json.Unmarshal(snap.State, &b)
			}
			funcapp.WriteJSON(w, http.StatusOK, map[string]any{"account": segs[0], "balance": b})
		default:
			funcapp.WriteErrorf(w, http.StatusNotFound, "no route for %s %s: use POST /api/bank/{account}/deposit?amount=, GET /api/bank/{account}, POST /api/bank/transfer", r.Method, r.URL.Path)
		}
	})
}
