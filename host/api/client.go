package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// Client talks to arkd over its control socket. Safe for concurrent use.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the daemon listening on socket. It does
// not connect until a call.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}
}

// UnreachableError means the daemon could not be reached at all.
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("arkd is not reachable on %s: %v (is arkd running? are you root?)", e.Socket, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// RemoteError is an error the daemon answered with.
type RemoteError struct {
	Status int
	ErrorReply
}

func (e *RemoteError) Error() string { return e.ErrorReply.Error }

// Call sends body (nil for GET) to path and decodes the reply into out
// (which may be nil). Errors are *UnreachableError or *RemoteError.
func (c *Client) Call(ctx context.Context, path string, query url.Values, body, out any) error {
	resp, err := c.do(ctx, path, query, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reply of %s: %w", path, err)
	}
	return nil
}

// Stream GETs path and calls fn for each JSON line of the reply until
// the daemon ends it, ctx ends, or fn returns an error.
func (c *Client) Stream(ctx context.Context, path string, query url.Values, fn func(json.RawMessage) error) error {
	resp, err := c.do(ctx, path, query, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if err := fn(json.RawMessage(sc.Bytes())); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("stream %s: %w", path, err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, path string, query url.Values, body any) (*http.Response, error) {
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		method, rd = http.MethodPost, bytes.NewReader(b)
	}
	u := "http://arkd" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, &UnreachableError{Socket: c.socket, Err: op.Err}
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		re := &RemoteError{Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &re.ErrorReply) != nil || re.ErrorReply.Error == "" {
			re.ErrorReply = ErrorReply{Error: fmt.Sprintf("%s %s: %s", method, path, resp.Status), Kind: KindFailed}
		}
		return nil, re
	}
	return resp, nil
}
