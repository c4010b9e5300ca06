package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/kits"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/scheduler"
	"github.com/ark-ha/ark/host/store"
)

// maxBody bounds a request: a definition file is small.
const maxBody = 8 << 20

// handler serves the control API (package api). A malformed request gets
// an error reply; nothing a client sends can stop the daemon.
func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		d.awaitReady(r.Context())
		rs, err := d.Status(r.URL.Query().Get("tag"))
		reply(w, rs, err)
	})
	admin := d.adminRoutes()
	for _, p := range []string{api.PathStart, api.PathStop, api.PathRelocate, api.PathBalance, api.PathMaintenance} {
		mux.Handle("POST "+p, admin)
	}
	mux.HandleFunc("GET "+api.PathCluster, func(w http.ResponseWriter, r *http.Request) {
		c, err := d.ClusterStatus()
		reply(w, c, err)
	})
	mux.HandleFunc("POST "+api.PathDefine, func(w http.ResponseWriter, r *http.Request) {
		var req api.DefineRequest
		if decode(w, r, &req) {
			out, err := d.Define(r.Context(), req.Mode, req.File, req.Data)
			reply(w, out, err)
		}
	})
	mux.HandleFunc("GET "+api.PathEvents, d.serveEvents)
	mux.HandleFunc("GET "+api.PathKits, func(w http.ResponseWriter, r *http.Request) {
		reply(w, d.Kits(), nil)
	})
	mux.HandleFunc("POST "+api.PathKit, func(w http.ResponseWriter, r *http.Request) {
		var req api.KitRequest
		if decode(w, r, &req) {
			err := d.Kit(r.Context(), req)
			reply(w, d.Kits(), err)
		}
	})
	mux.HandleFunc("GET "+api.PathMonitor, func(w http.ResponseWriter, r *http.Request) {
		st := d.mon.Stats()
		n := 0
		d.mu.Lock()
		for _, s := range d.status {
			if s.State == model.ISP {
				n++
			}
		}
		d.mu.Unlock()
		reply(w, api.Monitor{Monitored: n, Runs: st.Runs, Skipped: st.Skipped,
			LatenessP50: st.LatenessP50, LatenessP99: st.LatenessP99}, nil)
	})
	mux.HandleFunc("GET "+api.PathInsList, func(w http.ResponseWriter, r *http.Request) {
		line, err := d.InsList(r.URL.Query().Get("tag"))
		reply(w, api.InsList{Line: line}, err)
	})
	mux.HandleFunc("POST "+api.PathShutdown, func(w http.ResponseWriter, r *http.Request) {
		var req api.ShutdownRequest
		if decode(w, r, &req) {
			msg := "arkd is stopping; its resources are being taken out of service"
			if req.LeaveServices {
				msg = "arkd is stopping; services keep running"
			}
			reply(w, api.Reply{Message: msg}, nil)
			d.Shutdown(req.LeaveServices)
		}
	})
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, api.ErrorReply{Error: "malformed request: " + err.Error(), Kind: api.KindUsage})
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		code, kind := http.StatusInternalServerError, api.KindFailed
		var ue *UsageError
		var se *scheduler.Error
		if errors.As(err, &ue) || errors.As(err, &se) {
			code, kind = http.StatusBadRequest, api.KindUsage
		}
		writeJSON(w, code, api.ErrorReply{Error: err.Error(), Kind: kind})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// replyOutcome answers start/stop: a refused request is an error; steps
// that failed are an Outcome with OK false (arkctl exits 1).
func replyOutcome(w http.ResponseWriter, out api.Outcome, err error) {
	if err != nil {
		var se *scheduler.Error
		if errors.As(err, &se) {
			reply(w, nil, err)
			return
		}
		out.Error = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// serveEvents streams events as JSON lines: those since ?since (RFC
// 3339) or after ?after (a sequence number), then, with ?follow=1, new
// ones as they happen.
func (d *Daemon) serveEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	var after uint64
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			reply(w, nil, usage("since: %q is not an RFC 3339 time: %v", s, err))
			return
		}
		since = t
	}
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			reply(w, nil, usage("after: %q is not a sequence number", s))
			return
		}
		after = n
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	past := d.events.Since(since, after)
	for _, e := range past {
		_ = enc.Encode(e)
		after = max(after, e.Seq)
	}
	if q.Get("follow") == "" {
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
	for e := range d.events.Subscribe(r.Context(), after) {
		if e.Time.Before(since) {
			continue
		}
		if err := enc.Encode(e); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// Kits lists the kits for arkctl kit list.
func (d *Daemon) Kits() []api.Kit {
	d.mu.Lock()
	count := map[string]int{}
	for _, t := range d.graph.Tags() {
		count[d.graph.Resource(t).Type]++
	}
	src := maps.Clone(d.kitSrc)
	d.mu.Unlock()
	var out []api.Kit
	for _, s := range d.kits.List() {
		k := api.Kit{Name: s.Kit.Name, Path: s.Kit.Path, SHA256: s.Kit.SHA256, Version: s.Version,
			Running: s.Running, Pid: s.Pid, Launches: s.Launches, NextTry: s.NextTry, Resources: count[s.Kit.Name],
			Source: src[s.Kit.Name], LastError: s.LastError}
		out = append(out, k)
	}
	return out
}

// Kit enables (pinning the binary's current hash) or disables a kit at
// run time. A kit some resource uses cannot be disabled, nor can one the
// node file enables (edit the node file).
func (d *Daemon) Kit(ctx context.Context, req api.KitRequest) error {
	d.ops.Lock()
	defer d.ops.Unlock()
	switch req.Op {
	case "enable":
		path := req.Path
		if path == "" {
			path = filepath.Join(d.node.PluginDir, "ark-"+req.Name)
		}
		k, err := kits.PinKit(req.Name, path)
		if err != nil {
			return &UsageError{Err: err}
		}
		if _, err := d.kits.Enable(ctx, k); err != nil {
			return &UsageError{Err: err}
		}
		d.mu.Lock()
		d.kitSrc[k.Name] = "arkctl"
		d.mu.Unlock()
		if err := d.store.Apply(ctx, store.Op{EnableKits: []model.Kit{k}}); err != nil {
			d.log.Error("kit enable not saved", "err", err)
		}
		d.event(events.Event{Kind: events.KindKit, Message: fmt.Sprintf("kit %s enabled: %s sha256 %s", k.Name, k.Path, k.SHA256)})
		return nil
	case "disable":
		d.mu.Lock()
		src := d.kitSrc[req.Name]
		var users []string
		for _, t := range d.graph.Tags() {
			if d.graph.Resource(t).Type == req.Name {
				users = append(users, t)
			}
		}
		d.mu.Unlock()
		switch {
		case src == "":
			return usage("kit %s is not enabled", req.Name)
		case src == "node file":
			return usage("kit %s is enabled by the node file %s: remove it there", req.Name, d.node.Pos.File)
		case len(users) > 0:
			return usage("kit %s is used by %v: undefine them first", req.Name, users)
		}
		if err := d.kits.Disable(ctx, req.Name); err != nil {
			return err
		}
		d.mu.Lock()
		delete(d.kitSrc, req.Name)
		d.mu.Unlock()
		if err := d.store.Apply(ctx, store.Op{DisableKits: []string{req.Name}}); err != nil {
			d.log.Error("kit disable not saved", "err", err)
		}
		d.event(events.Event{Kind: events.KindKit, Message: "kit " + req.Name + " disabled"})
		return nil
	}
	return usage("kit: unknown op %q (enable or disable)", req.Op)
}
