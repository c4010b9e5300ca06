package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ark-ha/ark/host/model"
)

// parser walks a yaml.Node tree itself instead of decoding into structs,
// so that it controls every message, finds every error of a file in one
// pass, and knows the line of everything it reads.
type parser struct {
	file string
	errs Errors
}

func (p *parser) pos(n *yaml.Node) model.Pos {
	if n == nil {
		return model.Pos{File: p.file}
	}
	return model.Pos{File: p.file, Line: n.Line}
}

func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	col := 0
	if n != nil {
		col = n.Column
	}
	p.errs.addCol(p.pos(n), col, field, format, args...)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document returns the root of the single YAML document in data, or nil
// after recording why there is none. want says what the file should
// hold, for the message about an empty one.
func (p *parser) document(data []byte, want string) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(nil, "", "file is empty: want %s", want)
			return nil
		}
		p.syntax(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "", "a second YAML document (after ---): write one document per file")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
	}
	if len(doc.Content) == 0 {
		p.errorf(nil, "", "file is empty: want %s", want)
		return nil
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		p.errorf(nil, "", "file is empty: want %s", want)
		return nil
	}
	return root
}

// syntax records a YAML syntax error at the line yaml.v3 names in it.
func (p *parser) syntax(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.errs.add(model.Pos{File: p.file, Line: line}, "", "YAML syntax: %s", m[2])
		return
	}
	p.errs.add(model.Pos{File: p.file}, "", "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

// deref follows aliases (*name) to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// describe names what n is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "no value"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "nothing"
}

// entry is one key of a mapping with its value.
type entry struct {
	key  string
	k, v *yaml.Node
}

// mapping returns the entries of a mapping in file order, or nil (and an
// error) when n is not one. Duplicate keys are errors and only the first
// is returned; when known is not nil, keys outside it are errors too.
func (p *parser) mapping(n *yaml.Node, field string, known []string) ([]entry, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, field, "want a mapping (key: value lines), got %s", describe(n))
		return nil, false
	}
	var out []entry
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			p.errorf(k, field, "a key must be a plain name, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			p.errorf(k, field, "merge keys (<<) are not supported: write the fields out")
			continue
		}
		f := join(field, k.Value)
		if line, dup := first[k.Value]; dup {
			p.errorf(k, f, "duplicate key (first at line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		if known != nil && !contains(known, k.Value) {
			if s := suggest(k.Value, known); s != "" {
				p.errorf(k, f, "unknown field: did you mean %s?", s)
			} else {
				p.errorf(k, f, "unknown field (known: %s)", strings.Join(known, ", "))
			}
			continue
		}
		out = append(out, entry{key: k.Value, k: k, v: v})
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// join appends a key to a field path.
func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// scalar returns the text of a scalar as written: the admin's "0755"
// stays "0755" and a sha256 of digits stays a string.
func (p *parser) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, field, "want a single value, got %s", describe(n))
		return "", false
	}
	if n.ShortTag() == "!!null" {
		p.errorf(n, field, "no value given")
		return "", false
	}
	return n.Value, true
}

var digits = regexp.MustCompile(`^[-+]?[0-9]+$`)

func (p *parser) integer(n *yaml.Node, field string) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" && digits.MatchString(n.Value) {
		// YAML makes a float of an integer too large for int64.
		p.errorf(n, field, "%s is out of range", n.Value)
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, field, "want a whole number, got %s", describe(n))
		return 0, false
	}
	var i int
	if err := n.Decode(&i); err != nil {
		p.errorf(n, field, "%s is out of range", n.Value)
		return 0, false
	}
	return i, true
}

func (p *parser) boolean(n *yaml.Node, field string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, field, "want true or false, got %s", describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, field, "want true or false, got %s", describe(n))
		return false, false
	}
	return b, true
}

// duration reads a Go duration (30s, 1m30s, 500ms). A bare 0 is
// accepted, as 0 needs no unit; any other bare number is an error,
// because nobody can tell whether 10 meant seconds or milliseconds.
func (p *parser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.errorf(n, field, "want a duration (e.g. 30s, 1m30s, 500ms), got %s", describe(n))
		return 0, false
	}
	if n.ShortTag() == "!!int" || n.ShortTag() == "!!float" {
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f == 0 {
			return 0, true
		}
		p.errorf(n, field, "%s has no unit: write e.g. %ss", n.Value, n.Value)
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.errorf(n, field, "%q is not a duration (want e.g. 30s, 1m30s, 500ms)", n.Value)
		return 0, false
	}
	if d < 0 {
		p.errorf(n, field, "%s is negative", n.Value)
		return 0, false
	}
	return d, true
}

// list returns the items of a sequence, or nil and an error.
func (p *parser) list(n *yaml.Node, field string) ([]*yaml.Node, bool) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, field, "want a list, got %s", describe(n))
		return nil, false
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = deref(c)
	}
	return out, true
}

// index names item i of a list field.
func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }
