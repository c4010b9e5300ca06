package monitor

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPidFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    int
		wantErr string // substring; "" means success
	}{
		{name: "bare", content: "1234", want: 1234},
		{name: "newline", content: "1234\n", want: 1234},
		{name: "crlf and spaces", content: "1234 \r\n\t", want: 1234},
		{name: "pid 1", content: "1\n", want: 1},
		{name: "largest", content: "4194304\n", want: 4194304},
		{name: "empty", content: "", wantErr: "empty"},
		{name: "blank", content: " \n", wantErr: "only whitespace"},
		{name: "zero", content: "0\n", wantErr: "pid 0 is not a process"},
		{name: "negative", content: "-5\n", wantErr: `"-5" is not a positive decimal integer`},
		{name: "plus sign", content: "+5\n", wantErr: "not a positive decimal integer"},
		{name: "leading space", content: " 5\n", wantErr: "not a positive decimal integer"},
		{name: "leading zeros", content: "0042\n", wantErr: `"0042" has leading zeros`},
		{name: "two lines", content: "12\n34\n", wantErr: "not a positive decimal integer (unexpected '\\n' at byte 2)"},
		{name: "word", content: "nginx\n", wantErr: "not a positive decimal integer"},
		{name: "hex", content: "0x10\n", wantErr: "not a positive decimal integer"},
		{name: "too large", content: "4194305\n", wantErr: "larger than any pid"},
		{name: "overflow", content: "99999999999999999999999\n", wantErr: "larger than any pid"},
		{name: "too long", content: strings.Repeat("1", 100), wantErr: "longer than 64 bytes"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".pid")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadPidFile(path)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ReadPidFile = %d, %v; want %d, nil", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadPidFile = %d, nil; want error containing %q", got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q: want it to name %s and contain %q", err, path, tt.wantErr)
			}
			if !errors.Is(err, ErrBadPidFile) {
				t.Errorf("error %q does not wrap ErrBadPidFile", err)
			}
		})
	}
}

func TestReadPidFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.pid")
	_, err := ReadPidFile(path)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrBadPidFile) {
		t.Fatalf("err = %v; want fs.ErrNotExist, not ErrBadPidFile", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}
