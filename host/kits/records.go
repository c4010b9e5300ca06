package kits

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// record says which process runs a kit's plugin, so that a daemon started
// after this one died can find it. It is stored as JSON in
// StateDir/plugins/KIT.pid.
type record struct {
	Kit       string    `json:"kit"`
	Pid       int       `json:"pid"`
	StartTime uint64    `json:"start_time"` // /proc/PID/stat field 22
	BootID    string    `json:"boot_id,omitempty"`
	Exe       string    `json:"exe"`  // /proc/PID/exe when it started
	Path      string    `json:"path"` // the kit's configured path
	Launched  time.Time `json:"launched"`
}

const recordExt = ".pid"

// records manages the record files of one directory.
type records struct {
	dir string
}

func (r records) file(kit string) string { return filepath.Join(r.dir, kit+recordExt) }

// newRecord describes the running process pid of kit. Without /proc the
// start time and executable stay empty; such a record is never acted on.
func newRecord(kit, path string, pid int, now time.Time) record {
	rec := record{Kit: kit, Pid: pid, Path: path, Launched: now, BootID: bootID()}
	if id, err := identify(pid); err == nil {
		rec.StartTime, rec.Exe = id.StartTime, id.Exe
	}
	if rec.Exe == "" {
		rec.Exe = path
	}
	return rec
}

// write stores rec atomically (a temporary file renamed over the old
// record), so a daemon killed mid-write leaves the old record or the new
// one, never half of one. It does not fsync: after a power loss no plugin
// survives to be found.
func (r records) write(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(r.dir, "."+rec.Kit+recordExt+".tmp*")
	if err != nil {
		return fmt.Errorf("write pid record of kit %s: %w", rec.Kit, err)
	}
	_, werr := f.Write(append(b, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write pid record of kit %s: %w", rec.Kit, err)
	}
	if err := os.Rename(f.Name(), r.file(rec.Kit)); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write pid record of kit %s: %w", rec.Kit, err)
	}
	return nil
}

// remove deletes kit's record if it still names pid (0: whatever it
// names). A missing record is not an error.
func (r records) remove(kit string, pid int) error {
	if pid != 0 {
		b, err := os.ReadFile(r.file(kit))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		var rec record
		if json.Unmarshal(b, &rec) == nil && rec.Pid != pid {
			return nil // a newer process's record
		}
	}
	if err := os.Remove(r.file(kit)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pid record of kit %s: %w", kit, err)
	}
	return nil
}

// reapOrphans kills the plugin processes the records of a previous daemon
// name, if they still run: only a process whose pid, start time and
// executable all match its record. It removes every record and leftover
// temporary file, and returns the records of the processes it killed. It
// blocks until they are gone (SIGTERM, grace, SIGKILL), the records
// handled in parallel.
func (r records) reapOrphans(log *slog.Logger, grace time.Duration) []record {
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		log.Error("read plugin pid records", "dir", r.dir, "err", err)
		return nil
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		killed []record
	)
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(r.dir, name)
		if strings.HasPrefix(name, ".") && strings.Contains(name, recordExt+".tmp") {
			_ = os.Remove(path) // a write cut short
			continue
		}
		if e.IsDir() || !strings.HasSuffix(name, recordExt) {
			continue
		}
		b, err := os.ReadFile(path)
		var rec record
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err == nil && rec.Pid <= 0 {
			err = fmt.Errorf("pid %d", rec.Pid)
		}
		if err != nil {
			log.Warn("unreadable plugin pid record removed; its process, if any, is left alone", "file", path, "err", err)
			_ = os.Remove(path)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := killOrphan(rec, grace)
			switch {
			case ok:
				attrs := []any{"kit", rec.Kit, "pid", rec.Pid, "exe", rec.Exe, "launched", rec.Launched}
				if err != nil {
					attrs = append(attrs, "err", err)
				}
				log.Warn("killed plugin process left running by a previous daemon", attrs...)
				mu.Lock()
				killed = append(killed, rec)
				mu.Unlock()
			case err != nil:
				log.Info("plugin pid record of a previous daemon does not match a running plugin",
					"kit", rec.Kit, "pid", rec.Pid, "exe", rec.Exe, "err", err)
			default:
				log.Debug("plugin of a previous daemon already gone", "kit", rec.Kit, "pid", rec.Pid)
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				log.Error("remove plugin pid record", "file", path, "err", err)
			}
		}()
	}
	wg.Wait()
	sort.Slice(killed, func(i, j int) bool { return killed[i].Kit < killed[j].Kit })
	return killed
}
