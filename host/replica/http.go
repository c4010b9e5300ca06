package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/ark-ha/ark/host/store"
)

type peerKey struct{}

// Peer returns the name of the node that sent req, a request served by
// Config.Handler; "" for a request that did not come through the cluster
// transport.
func Peer(req *http.Request) string {
	s, _ := req.Context().Value(peerKey{}).(string)
	return s
}

// Do sends req to node's Config.Handler over the cluster transport (an
// authenticated connection on the first path that works) and returns the
// response, as http.Client.Do does. Only req's method, path, query,
// headers and body matter: the scheme and host are set here. The caller
// closes the response body. A *DialError means nothing was sent.
func (r *Replica) Do(ctx context.Context, node string, req *http.Request) (*http.Response, error) {
	if r.closing.Load() {
		return nil, store.ErrClosed
	}
	if r.stream.peers[node] == nil {
		return nil, fmt.Errorf("replica: node %q is not in cluster %q", node, r.cfg.Cluster)
	}
	req = req.Clone(ctx)
	u := *req.URL
	u.Scheme, u.Host = "http", node
	req.URL, req.Host, req.RequestURI = &u, node, ""
	return r.client.Do(req)
}

// serveHTTP serves the cluster transport's HTTP streams: the replica's
// own endpoints, then cfg.Handler.
func (r *Replica) serveHTTP(w http.ResponseWriter, req *http.Request) {
	switch {
	case req.URL.Path == applyPath:
		r.serveApply(w, req)
	case strings.HasPrefix(req.URL.Path, "/internal/replica/"):
		http.NotFound(w, req)
	case r.cfg.Handler != nil:
		r.cfg.Handler.ServeHTTP(w, req)
	default:
		http.NotFound(w, req)
	}
}

// applyReply is the leader's answer to a forwarded Apply.
type applyReply struct {
	Index uint64 `json:"index,omitempty"`
	Error string `json:"error,omitempty"`
}

// serveApply applies an Op forwarded by a follower, on the leader:
// 200 with the entry's index; 421 when this node is not the leader or
// the Op was not appended (the follower retries); 422 when Data.Apply
// rejected it; 503 when the outcome is unknown.
func (r *Replica) serveApply(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	reply := func(code int, a applyReply) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(a)
	}
	cmd, err := io.ReadAll(io.LimitReader(req.Body, maxOpSize+1))
	if err != nil {
		reply(http.StatusBadRequest, applyReply{Error: err.Error()})
		return
	}
	var op store.Op
	if err := json.Unmarshal(cmd, &op); err != nil || len(cmd) > maxOpSize {
		if err == nil {
			err = errors.New("too large")
		}
		reply(http.StatusUnprocessableEntity, applyReply{Error: fmt.Sprintf("%v: op does not decode: %v", store.ErrInvalid, err)})
		return
	}
	if op.Empty() {
		reply(http.StatusOK, applyReply{})
		return
	}
	if r.raft.State() != raft.Leader {
		reply(http.StatusMisdirectedRequest, applyReply{Error: raft.ErrNotLeader.Error()})
		return
	}
	index, err := r.applyLocal(req.Context(), cmd)
	switch {
	case err == nil:
		reply(http.StatusOK, applyReply{Index: index})
	case errors.Is(err, errRetry):
		reply(http.StatusMisdirectedRequest, applyReply{Error: err.Error()})
	case errors.Is(err, store.ErrInvalid):
		reply(http.StatusUnprocessableEntity, applyReply{Error: err.Error()})
	default:
		reply(http.StatusServiceUnavailable, applyReply{Error: err.Error()})
	}
}

// forward sends cmd to the leader's apply endpoint and returns the entry's
// index. Errors wrap errRetry (nothing sent, or the leader did not append
// it), store.ErrInvalid, or ErrOutcomeUnknown.
func (r *Replica) forward(ctx context.Context, leader string, cmd []byte) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leader+applyPath, bytes.NewReader(cmd))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.Do(ctx, leader, req)
	if err != nil {
		var de *DialError
		switch {
		case errors.As(err, &de):
			return 0, fmt.Errorf("%w: %w", errRetry, err)
		case errors.Is(err, store.ErrClosed):
			return 0, err
		case ctx.Err() != nil:
			return 0, fmt.Errorf("%w: forwarded to %s: %w", ErrOutcomeUnknown, leader, ctx.Err())
		}
		return 0, fmt.Errorf("%w: forwarded to %s: %w", ErrOutcomeUnknown, leader, err)
	}
	defer resp.Body.Close()
	var a applyReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return 0, fmt.Errorf("%w: forwarded to %s: %s, unreadable answer: %w", ErrOutcomeUnknown, leader, resp.Status, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return a.Index, nil
	case http.StatusMisdirectedRequest:
		return 0, fmt.Errorf("%w: %s: %s", errRetry, leader, a.Error)
	case http.StatusUnprocessableEntity:
		msg := strings.TrimPrefix(a.Error, store.ErrInvalid.Error()+": ")
		return 0, fmt.Errorf("%w: %s", store.ErrInvalid, msg)
	default:
		return 0, fmt.Errorf("%w: forwarded to %s: %s: %s", ErrOutcomeUnknown, leader, resp.Status, a.Error)
	}
}
