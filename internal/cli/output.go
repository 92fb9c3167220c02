package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// writeJSON pretty-prints a JSON answer as the API returned it.
func writeJSON(w io.Writer, body []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
		// Not JSON after all: show it as it came rather than lose it.
		buf.Reset()
		buf.Write(bytes.TrimSpace(body))
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeJSONArray prints the items of several pages as one array.
func writeJSONArray(w io.Writer, items []json.RawMessage) error {
	if items == nil {
		items = []json.RawMessage{}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return err
	}
	return writeJSON(w, b)
}

func newTab(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// writeTable prints rows as aligned columns, the first row being the header.
func writeTable(w io.Writer, rows [][]string) error {
	tw := newTab(w)
	for _, row := range rows {
		for i, c := range row {
			row[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// writeKV prints "Label:  value" lines, aligned.
func writeKV(w io.Writer, pairs [][2]string) error {
	tw := newTab(w)
	for _, kv := range pairs {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], cell(kv[1]))
	}
	return tw.Flush()
}

// cell keeps a table cell on one line and out of tabwriter's way.
func cell(s string) string {
	s = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
	if s == "" {
		return "-"
	}
	return s
}

// compact renders a JSON value on one line; absent is "-".
func compact(b json.RawMessage) string {
	if len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func writeStatus(w io.Writer, s *statusBody, history bool) error {
	if err := writeKV(w, [][2]string{
		{"Instance", s.InstanceID},
		{"Name", s.Name},
		{"Status", s.RuntimeStatus},
		{"Created", s.CreatedTime},
		{"Last updated", s.LastUpdatedTime},
		{"Input", truncate(compact(s.Input), 200)},
		{"Custom status", truncate(compact(s.CustomStatus), 200)},
		{"Output", truncate(compact(s.Output), 200)},
	}); err != nil {
		return err
	}
	if !history {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nHistory:"); err != nil {
		return err
	}
	t := [][]string{{"TIMESTAMP", "EVENT", "NAME", "DETAIL"}}
	for _, raw := range s.HistoryEvents {
		var e map[string]json.RawMessage
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		str := func(k string) string {
			var v string
			_ = json.Unmarshal(e[k], &v)
			return v
		}
		name := str("FunctionName")
		for _, k := range []string{"Name", "Operation"} {
			if name == "" {
				name = str(k)
			}
		}
		t = append(t, []string{str("Timestamp"), str("EventType"), name, truncate(historyDetail(e), 100)})
	}
	return writeTable(w, t)
}

// historyDetail is the rest of a history event, "Key=value" by key, without the
// columns already shown.
func historyDetail(e map[string]json.RawMessage) string {
	var keys []string
	for k := range e {
		switch k {
		case "Timestamp", "EventType", "FunctionName", "Name", "Operation", "FailureDetails", "ScheduledTime":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		v := compact(e[k])
		var s string
		if strings.HasPrefix(v, `"`) && json.Unmarshal(e[k], &s) == nil {
			v = s
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

// writeUsage is the tool's own help.
func writeUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("durable manages the orchestrations and entities of a running durable functions app\nthrough its management API (/<route prefix>/runtime/webhooks/durabletask).\n\nUsage:\n  durable [global flags] COMMAND [arguments and flags]\n\nCommands:\n")
	tw := newTab(&b)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.Name, c.Synopsis, c.Summary)
	}
	_ = tw.Flush()
	b.WriteString("\nGlobal flags (anywhere on the line):\n")
	writeFlags(&b, globalFlags)
	b.WriteString("\nFlags may stand before or after arguments, as --flag value or --flag=value; -- ends\nthe flags. Exit status: 0 done, 1 the app refused or failed or could not be reached,\n2 a wrong command line. Run 'durable COMMAND --help' for a command's flags.\n")
	_, _ = io.WriteString(w, b.String())
}

func writeGroupUsage(w io.Writer, group string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n")
	tw := newTab(&b)
	for _, c := range commands {
		if strings.HasPrefix(c.Name, group+" ") {
			fmt.Fprintf(tw, "  durable %s %s\t%s\n", c.Name, c.Synopsis, c.Summary)
		}
	}
	_ = tw.Flush()
	_, _ = io.WriteString(w, b.String())
}

func writeCommandUsage(w io.Writer, c *command) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: durable %s", c.Name)
	if c.Synopsis != "" {
		b.WriteString(" " + c.Synopsis)
	}
	if len(c.Flags) > 0 {
		b.WriteString(" [flags]")
	}
	fmt.Fprintf(&b, "\n\n%s.\n", strings.ToUpper(c.Summary[:1])+c.Summary[1:])
	if c.Detail != "" {
		b.WriteString("\n" + c.Detail + "\n")
	}
	if len(c.Flags) > 0 {
		b.WriteString("\nFlags:\n")
		writeFlags(&b, c.Flags)
	}
	b.WriteString("\nGlobal flags:\n")
	writeFlags(&b, globalFlags)
	_, _ = io.WriteString(w, b.String())
}

func writeFlags(b *strings.Builder, flags []flagSpec) {
	tw := newTab(b)
	for _, f := range flags {
		name := "--" + f.Name
		if f.Value != "" {
			name += " " + f.Value
		}
		usage := f.Usage
		if f.Default != "" {
			usage += " (default " + f.Default + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	}
	_ = tw.Flush()
}

// helpCommand serves `durable help [COMMAND...]`.
func helpCommand(w io.Writer, args []string) error {
	if len(args) == 0 {
		writeUsage(w)
		return nil
	}
	name := strings.Join(args, " ")
	if c := findCommand(name); c != nil && c.Name != "help" {
		writeCommandUsage(w, c)
		return nil
	}
	if _, ok := groups()[name]; ok {
		writeGroupUsage(w, name)
		return nil
	}
	return usagef("", "no help for unknown command %q", name)
}
