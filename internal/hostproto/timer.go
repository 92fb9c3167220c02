package hostproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/internal/jsonfold"
)

// TimerInfo is the timerTrigger binding value. IsPastDue tells a handler that
// the occurrence fired late (the app was down), which it may want to skip.
type TimerInfo struct {
	Schedule TimerSchedule
	// ScheduleStatus is nil when the trigger runs without the schedule monitor
	// (useMonitor false, or intervals under a minute).
	ScheduleStatus *TimerScheduleStatus
	IsPastDue      bool
}

// TimerSchedule describes the schedule object; the host only exposes whether it
// adjusts for daylight saving time.
type TimerSchedule struct {
	AdjustForDST bool
}

// TimerScheduleStatus is the schedule monitor's record of occurrences, in UTC. A
// Last of 0001-01-01 (zero time) means the timer has not fired before.
type TimerScheduleStatus struct {
	Last        time.Time
	Next        time.Time
	LastUpdated time.Time
}

// DecodeTimerInfo parses a timer trigger value. It is lenient about casing and
// about values being strings, because the host's serializer settings have
// changed between versions.
func DecodeTimerInfo(b []byte) (*TimerInfo, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(b), &m); err != nil {
		return nil, fmt.Errorf("hostproto: timer info: %w", err)
	}
	if m == nil {
		return nil, errors.New("hostproto: timer info is null")
	}
	ti := &TimerInfo{}
	var err error
	if ti.IsPastDue, err = flexBool(m, "IsPastDue"); err != nil {
		return nil, err
	}
	if raw, ok := jsonfold.Lookup(m, "Schedule"); ok && !isNull(raw) {
		var sm map[string]json.RawMessage
		if err := json.Unmarshal(raw, &sm); err != nil {
			return nil, fmt.Errorf("hostproto: timer Schedule: %w", err)
		}
		if ti.Schedule.AdjustForDST, err = flexBool(sm, "AdjustForDST"); err != nil {
			return nil, err
		}
	}
	if raw, ok := jsonfold.Lookup(m, "ScheduleStatus"); ok && !isNull(raw) {
		var sm map[string]json.RawMessage
		if err := json.Unmarshal(raw, &sm); err != nil {
			return nil, fmt.Errorf("hostproto: timer ScheduleStatus: %w", err)
		}
		st := &TimerScheduleStatus{}
		for _, f := range []struct {
			key string
			dst *time.Time
		}{{"Last", &st.Last}, {"Next", &st.Next}, {"LastUpdated", &st.LastUpdated}} {
			s, err := scalarString(sm, f.key)
			if err != nil {
				return nil, err
			}
			if strings.TrimSpace(s) == "" {
				continue
			}
			t, err := ParseTime(s)
			if err != nil {
				return nil, fmt.Errorf("hostproto: timer ScheduleStatus.%s: %w", f.key, err)
			}
			*f.dst = t
		}
		ti.ScheduleStatus = st
	}
	return ti, nil
}

// Timer decodes the timerTrigger binding called name.
func (r *InvocationRequest) Timer(name string) (*TimerInfo, error) {
	b, err := r.Payload(name)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("hostproto: binding %q is null", name)
	}
	return DecodeTimerInfo(b)
}

func flexBool(m map[string]json.RawMessage, key string) (bool, error) {
	s, err := scalarString(m, key)
	if err != nil {
		return false, err
	}
	if s = strings.TrimSpace(s); s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("hostproto: %s: invalid boolean %q", key, s)
	}
	return v, nil
}
