package interpreters

import (
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		path, src string
		want      Lang
		err       string
	}{
		{"restore.sh", "", LangBash, ""},
		{"restore.bash", "", LangBash, ""},
		{"x/remove.lua", "", LangLua, ""},
		{"quickCheck.star", "", LangStarlark, ""},
		{"quickCheck.STAR", "", LangStarlark, ""},
		{"restore", "#!/bin/bash\nexit 0\n", LangBash, ""},
		{"restore", "#!/bin/sh -e\n", LangBash, ""},
		{"restore", "#!/usr/bin/env bash\n", LangBash, ""},
		{"restore", "#!/usr/bin/env -S lua5.4\n", LangLua, ""},
		{"restore", "#!/usr/bin/lua\n", LangLua, ""},
		{"restore", "#!/usr/bin/env starlark\n", LangStarlark, ""},
		{"restore", "#!/usr/bin/python3\n", "", "cannot run #!/usr/bin/python3"},
		{"restore", "exit 0\n", "", "cannot tell the script's language"},
		{"restore.py", "print(1)\n", "", "name it .sh, .bash, .lua or .star"},
	}
	for _, tt := range tests {
		got, err := Detect(tt.path, []byte(tt.src))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("Detect(%q, %q) error = %v, want one naming the file and containing %q", tt.path, tt.src, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Detect(%q, %q) = %q, %v; want %q", tt.path, tt.src, got, err, tt.want)
		}
	}
}
