package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// flagKind says how a flag takes its value.
type flagKind int

const (
	boolFlag   flagKind = iota // --name, --name=true|false
	stringFlag                 // --name V, --name=V; the last one given wins
	listFlag                   // repeatable, each value may be a comma list
)

// flagSpec declares one flag of a command (or a global flag).
type flagSpec struct {
	Name    string // without dashes
	Kind    flagKind
	Value   string // placeholder in usage text, e.g. "JSON"
	Default string // shown in usage text only
	Usage   string
}

// parsed is a command line after parsing: the command, its positional arguments and
// the flags given, by name.
type parsed struct {
	Command string   // "status", "entity get", ...; "" when only help was asked for
	Group   string   // "entity" when the line named a group but no subcommand
	Args    []string // positional arguments after the command name
	Help    bool
	strs    map[string]string
	lists   map[string][]string
	bools   map[string]bool
	seen    map[string]bool
}

// Str returns a string flag's value, or "" when it was not given.
func (p *parsed) Str(name string) string { return p.strs[name] }

// List returns a list flag's values, split on commas, empty items dropped.
func (p *parsed) List(name string) []string { return p.lists[name] }

// Bool reports whether a bool flag was set true.
func (p *parsed) Bool(name string) bool { return p.bools[name] }

// Has reports whether the flag appeared on the command line at all.
func (p *parsed) Has(name string) bool { return p.seen[name] }

// commandSpec is what the parser needs to know about a command.
type commandSpec struct {
	Name  string
	Flags []flagSpec
}

// usageError is a command line the tool cannot run: exit status 2.
type usageError struct {
	msg     string
	command string // for the "see durable X --help" hint; "" for the tool itself
}

func (e *usageError) Error() string { return e.msg }

func usagef(command, format string, args ...any) *usageError {
	return &usageError{msg: fmt.Sprintf(format, args...), command: command}
}

// parseArgs parses a command line in the way people type them: global flags and the
// command's flags may stand anywhere, before or after positional arguments, as
// --name=value or --name value (one or two leading dashes); "--" ends the flags.
// The command is the first positional argument, or the first two when the first names
// a group (such as "entity"). Flags of the command itself are known only once its name
// has been read, so a command flag before the command name is an unknown flag.
//
// A lone "-" and tokens that look like negative numbers ("-5", "-1.5") are positional,
// so `durable signal counter k add -5` works.
func parseArgs(args []string, globals []flagSpec, commands []*commandSpec, groups map[string][]string) (*parsed, error) {
	lookup := func(name string) (*commandSpec, bool) {
		for _, c := range commands {
			if c.Name == name {
				return c, true
			}
		}
		return nil, false
	}
	p := &parsed{strs: map[string]string{}, lists: map[string][]string{}, bools: map[string]bool{}, seen: map[string]bool{}}
	var cmd *commandSpec
	findFlag := func(name string) (flagSpec, bool) {
		for _, f := range globals {
			if f.Name == name {
				return f, true
			}
		}
		if cmd != nil {
			for _, f := range cmd.Flags {
				if f.Name == name {
					return f, true
				}
			}
		}
		return flagSpec{}, false
	}
	positional := func(a string) error {
		switch {
		case cmd != nil:
			p.Args = append(p.Args, a)
		case p.Group != "":
			name := p.Group + " " + a
			c, ok := lookup(name)
			if !ok {
				return usagef(p.Group, "unknown command %q (want one of: %s)", name, strings.Join(groups[p.Group], ", "))
			}
			cmd, p.Command, p.Group = c, c.Name, ""
		default:
			if _, ok := groups[a]; ok {
				p.Group = a
				return nil
			}
			c, ok := lookup(a)
			if !ok {
				return usagef("", "unknown command %q", a)
			}
			cmd, p.Command = c, c.Name
		}
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			for _, rest := range args[i+1:] {
				if err := positional(rest); err != nil {
					return nil, err
				}
			}
			break
		}
		if !isFlag(a) {
			if err := positional(a); err != nil {
				return nil, err
			}
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			if hasValue {
				return nil, usagef(p.Command, "flag %s takes no value", a)
			}
			p.Help = true
			continue
		}
		f, ok := findFlag(name)
		if !ok {
			if cmd == nil && p.Group == "" {
				if commandFlag(name, commands) {
					return nil, usagef("", "flag --%s belongs to a command: put it after the command name", name)
				}
				return nil, usagef("", "unknown flag --%s", name)
			}
			where := p.Command
			if where == "" {
				where = p.Group
			}
			return nil, usagef(where, "unknown flag --%s for %s", name, where)
		}
		p.seen[f.Name] = true
		if f.Kind == boolFlag {
			b := true
			if hasValue {
				var err error
				if b, err = strconv.ParseBool(value); err != nil {
					return nil, usagef(p.Command, "flag --%s wants true or false, got %q", name, value)
				}
			}
			p.bools[f.Name] = b
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, usagef(p.Command, "flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if f.Kind == listFlag {
			for _, v := range strings.Split(value, ",") {
				if v = strings.TrimSpace(v); v != "" {
					p.lists[f.Name] = append(p.lists[f.Name], v)
				}
			}
		} else {
			p.strs[f.Name] = value
		}
	}
	return p, nil
}

// commandFlag reports whether some command has the flag: only for a better message
// when it was typed before the command name.
func commandFlag(name string, commands []*commandSpec) bool {
	for _, c := range commands {
		for _, f := range c.Flags {
			if f.Name == name {
				return true
			}
		}
	}
	return false
}

// isFlag tells flags from positional arguments: "-" alone and negative numbers are
// positional.
func isFlag(a string) bool {
	if len(a) < 2 || a[0] != '-' {
		return false
	}
	if _, err := strconv.ParseFloat(a, 64); err == nil {
		return false
	}
	return true
}
