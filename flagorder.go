package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// flagsFirst returns args, the arguments of a command with flags and subcommands, rearranged
// so that urfave/cli, which stops reading flags at the first argument, reads every flag
// wherever it was typed. Up to the name of a subcommand, args are kept as they are and the rest
// is rearranged for that subcommand. A command without subcommands gets its flags first (each
// with its value when it takes one, given as --flag value or --flag=value), then "--", then its
// arguments in order; "-" alone, and every word after a "--", are arguments. An unknown flag
// moves too, so it is still refused; a request for help keeps only itself, since urfave/cli
// would take an argument for the name of a help topic. A flag that needs a value and ends args
// is a usage error: rearranged, it would take the "--" for its value.
func flagsFirst(flags []cli.Flag, commands []*cli.Command, args []string) ([]string, error) {
	if len(commands) > 0 {
		for i := 0; i < len(args); i++ {
			if isFlag(args[i]) {
				if takesValue(flags, args[i]) {
					i++
				}
				continue
			}
			for _, c := range commands {
				if c.HasName(args[i]) {
					rest, err := flagsFirst(c.Flags, c.Subcommands, args[i+1:])
					return append(slices.Clone(args[:i+1]), rest...), err
				}
			}
			break
		}
		return args, nil
	}
	var flagArgs, operands []string
scan:
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			operands = append(operands, args[i+1:]...)
			break scan
		case !isFlag(a):
			operands = append(operands, a)
		case cli.HelpFlag != nil && slices.Contains(cli.HelpFlag.Names(), flagName(a)):
			return []string{a}, nil
		case takesValue(flags, a):
			if i+1 == len(args) {
				return nil, usagef("flag needs an argument: -%s", flagName(a))
			}
			flagArgs = append(flagArgs, a, args[i+1])
			i++
		default:
			flagArgs = append(flagArgs, a)
		}
	}
	return append(append(flagArgs, "--"), operands...), nil
}

// isFlag reports whether a command-line word is a flag: it starts with "-" and is neither "-"
// (standard input) nor "--" (the end of the flags).
func isFlag(arg string) bool {
	return len(arg) > 1 && arg[0] == '-' && arg != "--"
}

// flagName returns the name in the flag word arg: -name, --name, -name=value or --name=value.
func flagName(arg string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
	return name
}

// takesValue reports whether the flag word arg is one of flags that takes its value from the
// next word: false for a boolean flag, for a word with its =value, and for an unknown flag.
func takesValue(flags []cli.Flag, arg string) bool {
	if strings.Contains(arg, "=") {
		return false
	}
	for _, f := range flags {
		if df, ok := f.(cli.DocGenerationFlag); ok && slices.Contains(f.Names(), flagName(arg)) {
			return df.TakesValue()
		}
	}
	return false
}

// noHelpSubcommands keeps urfave/cli from giving each of commands without subcommands of its
// own a "help" subcommand, which would take an argument "help" or "h", even after "--", for
// itself; --help and `popwire help CMD` still show the help.
func noHelpSubcommands(commands []*cli.Command) {
	for _, c := range commands {
		if len(c.Subcommands) == 0 {
			c.HideHelpCommand = true
		}
		noHelpSubcommands(c.Subcommands)
	}
}
