// Package scoreboard is the Durable Functions scoreboard sample: an entity mapping a
// character name to its combo and win totals.
package scoreboard

import (
	"errors"
	"fmt"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/checked"
)

// EntityName is the entity's name: its function folder's name.
const EntityName = "scoreboard_entity"

// Totals is one character's line on the scoreboard.
type Totals struct {
	TotalCombos int64 `json:"total_combos"`
	TotalWins   int64 `json:"total_wins"`
}

// Record is the input of the add operation.
type Record struct {
	AvengerName    string `json:"avenger_name"`
	CombosExecuted int64  `json:"combos_executed"`
	Win            int64  `json:"win"`
}

// Validate rejects records that would corrupt the board.
func (r *Record) Validate() error {
	var errs []error
	if strings.TrimSpace(r.AvengerName) == "" {
		errs = append(errs, errors.New("avenger_name is required"))
	}
	if r.CombosExecuted < 0 {
		errs = append(errs, errors.New("combos_executed must not be negative"))
	}
	if r.Win < 0 {
		errs = append(errs, errors.New("win must not be negative"))
	}
	return errors.Join(errs...)
}

// Entity is the scoreboard's operations: add, get, reset.
func Entity(ctx durable.EntityContext) error {
	board := map[string]Totals{}
	if err := ctx.GetState(&board); err != nil {
		return fmt.Errorf("scoreboard state: %w", err)
	}
	switch strings.ToLower(ctx.Operation()) {
	case "add":
		var rec Record
		if err := ctx.GetInput(&rec); err != nil {
			return fmt.Errorf("add needs a record like {\"avenger_name\": \"BlackWidow\", \"combos_executed\": 3, \"win\": 0}: %w", err)
		}
		if err := rec.Validate(); err != nil {
			return err
		}
		t := board[rec.AvengerName]
		combos, err := checked.Add(rec.AvengerName+"'s total_combos", t.TotalCombos, rec.CombosExecuted)
		if err != nil {
			return err
		}
		wins, err := checked.Add(rec.AvengerName+"'s total_wins", t.TotalWins, rec.Win)
		if err != nil {
			return err
		}
		t.TotalCombos, t.TotalWins = combos, wins
		board[rec.AvengerName] = t
		if err := ctx.SetState(board); err != nil {
			return err
		}
		return ctx.SetResult(board)
	case "get":
		return ctx.SetResult(board)
	case "reset":
		if err := ctx.SetState(map[string]Totals{}); err != nil {
			return err
		}
		return ctx.SetResult(map[string]Totals{})
	default:
		return fmt.Errorf("scoreboard has no operation %q (expected add, get or reset)", ctx.Operation())
	}
}

// Register adds the entity to reg.
func Register(reg *durable.Registry) { reg.AddEntity(EntityName, Entity) }
