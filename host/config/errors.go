package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/ark-ha/ark/host/model"
)

// Error is one problem found in a configuration file. Field is the path
// of the offending value as the admin would look for it in the file
// (resources[1].interval, kits.generic.sha256; list indexes count from
// 0), or empty when the problem is the file itself.
type Error struct {
	Pos   model.Pos
	Field string
	Msg   string

	col int // orders the errors of one line as they appear in it
}

// Error formats e as file:line: field: msg, the shape editors and
// compilers use, so that the line can be jumped to.
func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a file or a set of files, sorted by
// file and line. The parsers and Check return it (never an empty one) so
// that an admin fixes a file in one round instead of one error per run;
// errors.As finds it, and each *Error through Unwrap.
type Errors []*Error

// Error lists the errors one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors, for errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// err returns es sorted as an error, or nil when there is none: a nil
// Errors must not become a non-nil error interface.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.col, b.col))
	})
	return es
}

// add records an error.
func (es *Errors) add(pos model.Pos, field, format string, args ...any) {
	es.addCol(pos, 0, field, format, args...)
}

// addCol records an error at a column of its line.
func (es *Errors) addCol(pos model.Pos, col int, field, format string, args ...any) {
	*es = append(*es, &Error{Pos: pos, Field: field, Msg: fmt.Sprintf(format, args...), col: col})
}

// suggest returns the option s is probably a typo of, or "": one equal to
// s but for case, '-' and '_' (dependsOn for depends_on), or one edit
// away, counting a swap of neighbours as one edit (intreval for
// interval). Only a unique best match is offered, so that a suggestion is
// never a coin toss.
func suggest(s string, options []string) string {
	norm := func(x string) string {
		return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(x))
	}
	for _, o := range options {
		if norm(o) == norm(s) {
			return o
		}
	}
	var found []string
	for _, o := range options {
		if oneEdit(strings.ToLower(s), strings.ToLower(o)) {
			found = append(found, o)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return ""
}

// oneEdit reports whether a becomes b by one insertion, deletion,
// substitution or swap of two neighbouring bytes.
func oneEdit(a, b string) bool {
	if a == b {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	// Skip the common prefix and suffix; what is left must be one edit.
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	j := 0
	for j < len(a)-i && a[len(a)-1-j] == b[len(b)-1-j] {
		j++
	}
	ra, rb := a[i:len(a)-j], b[i:len(b)-j]
	switch {
	case len(rb)-len(ra) == 1:
		return len(ra) == 0 // insertion
	case len(ra) == len(rb) && len(ra) == 1:
		return true // substitution
	case len(ra) == len(rb) && len(ra) == 2:
		return ra[0] == rb[1] && ra[1] == rb[0] // swap
	}
	return false
}
