package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/sdk/ark"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/bad/")

// testKits stands for the kits of a node: generic as the builtin
// GenericARK describes itself, ip without recover and with a required
// parameter, and slowcheck whose default quickCheck timeout is long.
var testKits = SchemaMap{
	"generic": {
		Type: "generic",
		Params: []ark.ParamSpec{
			{Name: "restore", Type: ark.TypePath},
			{Name: "remove", Type: ark.TypePath},
			{Name: "quickCheck", Type: ark.TypePath},
			{Name: "recover", Type: ark.TypePath},
			{Name: "dir", Type: ark.TypePath},
			{Name: "shell", Type: ark.TypeString},
			{Name: "grace", Type: ark.TypeDuration, Default: "5s"},
		},
		Actions:         ark.Actions,
		DefaultTimeouts: map[ark.Action]time.Duration{ark.QuickCheck: 22 * time.Second},
		OpenParams:      true,
	},
	"ip": {
		Type: "ip",
		Params: []ark.ParamSpec{
			{Name: "address", Type: ark.TypeString, Required: true},
			{Name: "netmask", Type: ark.TypeInt},
		},
		Actions:         []ark.Action{ark.Restore, ark.Remove, ark.QuickCheck},
		DefaultTimeouts: map[ark.Action]time.Duration{ark.QuickCheck: 10 * time.Second},
	},
	"slowcheck": {
		Type:            "slowcheck",
		Actions:         ark.Actions,
		DefaultTimeouts: map[ark.Action]time.Duration{ark.QuickCheck: 5 * time.Minute},
	},
}

// testNodes are the cluster's nodes for the nodes-*.yaml cases.
var testNodes = []string{"node1", "node2", "node3"}

// keyModes are the modes the key files in testdata must have, set by
// fixKeyModes before the files are read: git keeps no modes but the
// executable bit, and a key file readable by others is an error.
var keyModes = map[string]os.FileMode{
	"testdata/good/cluster.key": 0o600,
	"testdata/bad/cluster.key":  0o600,
	"testdata/bad/short.key":    0o600,
	"testdata/bad/open.key":     0o644, // for cluster-key-open.yaml
}

func fixKeyModes(t *testing.T) {
	t.Helper()
	for f, mode := range keyModes {
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// load parses a bad case the way the daemon would: node-*.yaml as a node
// file; cluster-*.yaml as a cluster file (through ParseCluster with the
// file's directory as it is, so that the key file's path in messages
// does not depend on where the repository is); any other file, or every
// file of a directory, as resource files, checked together against
// testKits once they parse, and nodes-*.yaml then against testNodes.
func load(path string) error {
	if strings.HasPrefix(filepath.Base(path), "node-") {
		_, err := LoadNode(path)
		return err
	}
	if strings.HasPrefix(filepath.Base(path), "cluster-") {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = ParseCluster(path, data, filepath.Dir(path))
		return err
	}
	files := []string{path}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.yaml"))
	}
	var all []*model.Resource
	var errs []error
	for _, f := range files {
		rs, err := LoadResources(f)
		if err != nil {
			errs = append(errs, err)
		}
		all = append(all, rs...)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := Check(all, testKits); err != nil {
		return err
	}
	if strings.HasPrefix(filepath.Base(path), "nodes-") {
		return CheckNodes(all, testNodes)
	}
	return nil
}

// fileLine is how every error line must begin: the file, and the line
// unless the problem is the file as a whole.
var fileLine = regexp.MustCompile(`^testdata/bad/[a-z0-9/-]+\.yaml(:[1-9][0-9]*)?: `)

// TestBadFiles pins the exact messages for every class of error, one
// case per file in testdata/bad (a directory is a case of several
// files). go test -rewrite regenerates the .golden files; read the diff.
func TestBadFiles(t *testing.T) {
	fixKeyModes(t)
	entries, err := os.ReadDir("testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok && !e.IsDir() {
			continue
		}
		n++
		path := filepath.Join("testdata/bad", e.Name())
		t.Run(name, func(t *testing.T) {
			err := load(path)
			if err == nil {
				t.Fatalf("%s: no error", path)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Errorf("%T is not config.Errors: %v", err, err)
			}
			got := err.Error() + "\n"
			for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				m := fileLine.FindStringSubmatch(line)
				if m == nil {
					t.Errorf("error does not start with file:line: %q", line)
				} else if m[1] == "" && !strings.Contains(line, "file is empty") && !strings.Contains(line, "YAML syntax") {
					t.Errorf("error does not name a line: %q", line)
				}
			}
			golden := filepath.Join("testdata/bad", name+".golden")
			if *rewrite {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -rewrite creates it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (go test -rewrite updates it):\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
	if n < 30 {
		t.Errorf("only %d bad cases found", n)
	}
	// A golden file whose case was deleted would pass unnoticed forever.
	goldens, _ := filepath.Glob("testdata/bad/*.golden")
	for _, g := range goldens {
		base := strings.TrimSuffix(g, ".golden")
		if _, err := os.Stat(base + ".yaml"); err == nil {
			continue
		}
		if _, err := os.Stat(base); err == nil {
			continue
		}
		t.Errorf("%s has no case", g)
	}
}
