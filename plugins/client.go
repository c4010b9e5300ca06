package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	arkv1 "github.com/ark-ha/ark/plugins/proto/ark/v1"
	"github.com/ark-ha/ark/sdk/ark"
)

// Defaults of ClientOptions.
const (
	DefaultCallTimeout  = 10 * time.Second
	DefaultActionMargin = 10 * time.Second
	DefaultPingTimeout  = 2 * time.Second
	DefaultExitGrace    = 2 * time.Second
)

// ClientOptions configure the host side of a plugin connection. The zero
// value is usable: every zero field takes its default.
type ClientOptions struct {
	// Name names the plugin in errors, e.g. "restore web-ip: plugin NAME
	// exited". Launch sets the binary's path. Default "in-process".
	Name string
	// CallTimeout is the deadline given to Info and Validate when ctx has
	// none. Default DefaultCallTimeout.
	CallTimeout time.Duration
	// ActionMargin is added to Request.Timeout to make an action's
	// deadline when ctx has none: the plugin enforces Timeout itself and
	// the margin leaves it time to stop what it started and answer.
	// Actions with neither a ctx deadline nor a Timeout have no deadline.
	// Default DefaultActionMargin.
	ActionMargin time.Duration
	// PingTimeout is the deadline of Ping when ctx has none. Default
	// DefaultPingTimeout.
	PingTimeout time.Duration
	// ExitGrace is how long a call that lost its connection waits to see
	// the plugin process exit, to report the exit rather than a transport
	// error. Default DefaultExitGrace.
	ExitGrace time.Duration
	// ExitStatus, if set, describes how the plugin process ended ("signal:
	// killed", "exit status 2"); it is called only after the process
	// exited. Launch sets it.
	ExitStatus func() string
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.Name == "" {
		o.Name = "in-process"
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.ActionMargin <= 0 {
		o.ActionMargin = DefaultActionMargin
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.ExitGrace <= 0 {
		o.ExitGrace = DefaultExitGrace
	}
	return o
}

// Client is the host side of a plugin connection: an ark.ResourceType
// whose calls run in the plugin. It is safe for concurrent use.
//
// Every call carries a deadline (see ClientOptions). Errors the resource
// type returned come back with their original message and class, so
// errors.Is(err, ark.ErrMisconfigured) holds. Errors about the plugin
// itself name the call and the plugin: a plugin that died mid-call gives
// an *ExitError (errors.Is(err, ErrExited)), a plugin that did not answer
// in time an error wrapping context.DeadlineExceeded.
//
// Clients come from Launch, or from go-plugin's Dispense with PluginSet.
type Client struct {
	opts   ClientOptions
	rpc    arkv1.ResourceTypeServiceClient
	health grpc_health_v1.HealthClient
	done   <-chan struct{} // closed when the plugin process exited
	host   *hostServices
}

var _ ark.ResourceType = (*Client)(nil)

func newClient(doneCtx context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn, opts ClientOptions) *Client {
	return &Client{
		opts:   opts.withDefaults(),
		rpc:    arkv1.NewResourceTypeServiceClient(conn),
		health: grpc_health_v1.NewHealthClient(conn),
		done:   doneCtx.Done(),
		host:   newHostServices(broker, doneCtx.Done()),
	}
}

// Name returns the plugin's name as errors show it.
func (c *Client) Name() string { return c.opts.Name }

// Close stops the host services served to the plugin. It does not stop
// the plugin process (see Plugin). Idempotent.
func (c *Client) Close() error {
	c.host.close()
	return nil
}

// Ping checks that the plugin answers, with PingTimeout as deadline when
// ctx has none. Unlike go-plugin's own Ping it never blocks on a frozen
// plugin beyond that deadline.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := c.withTimeout(ctx, c.opts.PingTimeout)
	defer cancel()
	start := time.Now()
	_, err := c.health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return c.callError(ctx, "ping", start, err)
	}
	return nil
}

// Info implements ark.ResourceType.
func (c *Client) Info(ctx context.Context) (ark.Info, error) {
	ctx, cancel := c.withTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	start := time.Now()
	resp, err := c.rpc.Info(ctx, &arkv1.InfoRequest{})
	if err != nil {
		return ark.Info{}, c.callError(ctx, "info", start, err)
	}
	info, err := infoFromPB(resp)
	if err != nil {
		return ark.Info{}, fmt.Errorf("info: plugin %s: %w", c.opts.Name, err)
	}
	return info, nil
}

// Validate implements ark.ResourceType.
func (c *Client) Validate(ctx context.Context, params map[string]string) error {
	ctx, cancel := c.withTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	start := time.Now()
	if _, err := c.rpc.Validate(ctx, &arkv1.ValidateRequest{Params: params}); err != nil {
		return c.callError(ctx, "validate", start, err)
	}
	return nil
}

// Restore implements ark.ResourceType.
func (c *Client) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return c.run(ctx, ark.Restore, req)
}

// Remove implements ark.ResourceType.
func (c *Client) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return c.run(ctx, ark.Remove, req)
}

// QuickCheck implements ark.ResourceType.
func (c *Client) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return c.run(ctx, ark.QuickCheck, req)
}

// Recover implements ark.ResourceType.
func (c *Client) Recover(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return c.run(ctx, ark.Recover, req)
}

// run runs an action in the plugin, passing its log lines to req.Log as
// they arrive. It returns the result the plugin sent, if any, beside any
// error.
func (c *Client) run(ctx context.Context, a ark.Action, req *ark.Request) (ark.Result, error) {
	if req == nil {
		return ark.Result{}, fmt.Errorf("%s: nil request", a)
	}
	what := string(a) + " " + req.Tag
	if _, ok := ctx.Deadline(); !ok && req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout+c.opts.ActionMargin)
		defer cancel()
	}
	var hostID uint32
	var callID uint64
	if req.Host != nil {
		var err error
		if hostID, err = c.host.start(); err != nil {
			return ark.Result{}, fmt.Errorf("%s: plugin %s: %w", what, c.opts.Name, err)
		}
		callID = c.host.register(req.Host)
		defer c.host.unregister(callID)
	}
	start := time.Now()
	stream, err := c.rpc.Run(ctx, runRequestToPB(a, req, hostID, callID))
	if err != nil {
		return ark.Result{}, c.callError(ctx, what, start, err)
	}
	var res *ark.Result
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			var r ark.Result
			if res != nil {
				r = *res
			}
			return r, c.callError(ctx, what, start, err)
		}
		switch e := ev.GetEvent().(type) {
		case *arkv1.RunResponse_Log:
			if req.Log != nil {
				req.Log(logLineFromPB(e.Log))
			}
		case *arkv1.RunResponse_Result:
			r := resultFromPB(e.Result)
			res = &r
		}
	}
	if res == nil {
		return ark.Result{}, fmt.Errorf("%s: plugin %s ended the action without a result", what, c.opts.Name)
	}
	return *res, nil
}

func (c *Client) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// callError turns the error of a call into what the caller sees: the
// resource type's own error as it returned it, or an error about the
// plugin naming the call (what) and the plugin.
func (c *Client) callError(ctx context.Context, what string, start time.Time, err error) error {
	if rerr, ok := errorFromStatus(err); ok {
		return rerr
	}
	if c.exited(0) {
		return fmt.Errorf("%s: %w", what, c.exitError(err))
	}
	// The deadline may be noticed by the server's copy of it, a little
	// before ctx's own timer fires.
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		return fmt.Errorf("%s: plugin %s did not answer within %s: %w",
			what, c.opts.Name, time.Since(start).Round(time.Millisecond), context.DeadlineExceeded)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: plugin %s: %w", what, c.opts.Name, cerr)
	}
	// A transport error: if the process is dying, say so.
	if c.exited(c.opts.ExitGrace) {
		return fmt.Errorf("%s: %w", what, c.exitError(err))
	}
	return fmt.Errorf("%s: plugin %s: %w", what, c.opts.Name, err)
}

// exited reports whether the plugin process exited, waiting up to wait
// for it.
func (c *Client) exited(wait time.Duration) bool {
	if c.done == nil { // in-process: there is no process to exit
		return false
	}
	if wait <= 0 {
		select {
		case <-c.done:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}

func (c *Client) exitError(err error) *ExitError {
	e := &ExitError{Plugin: c.opts.Name, Err: err}
	if c.opts.ExitStatus != nil {
		e.Status = c.opts.ExitStatus()
	}
	return e
}

// ErrExited matches, under errors.Is, the error of a call during which
// the plugin process exited.
var ErrExited = errors.New("plugin exited")

// ExitError reports that the plugin process exited while a call was in
// flight. It matches ErrExited under errors.Is.
type ExitError struct {
	Plugin string // the plugin's name (its path when launched)
	Status string // how it ended, e.g. "signal: killed"; may be empty
	Err    error  // the transport error the call saw
}

// Error says which plugin exited, how, and what the call saw.
func (e *ExitError) Error() string {
	s := "plugin " + e.Plugin + " exited"
	if e.Status != "" {
		s += " (" + e.Status + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the transport error.
func (e *ExitError) Unwrap() error { return e.Err }

// Is matches ErrExited.
func (e *ExitError) Is(target error) bool { return target == ErrExited }

// hostServices is the host side of the HostService callback: one gRPC
// server per Client, served over the go-plugin broker from the first
// action that carries an ark.Host until the Client closes or the plugin
// exits. Each action registers its own ark.Host under a call id, so
// concurrent actions may bring different hosts.
type hostServices struct {
	broker *plugin.GRPCBroker
	done   <-chan struct{}

	mu     sync.Mutex
	id     uint32 // broker id, 0 until started
	srv    *grpc.Server
	stop   chan struct{} // closed by close
	closed bool
	next   uint64
	calls  map[uint64]ark.Host
}

func newHostServices(broker *plugin.GRPCBroker, done <-chan struct{}) *hostServices {
	return &hostServices{broker: broker, done: done, stop: make(chan struct{}), calls: map[uint64]ark.Host{}}
}

// start serves the host services if they are not served yet and returns
// their broker id.
func (h *hostServices) start() (uint32, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, errors.New("host services are closed")
	}
	if h.id != 0 {
		return h.id, nil
	}
	if h.broker == nil {
		return 0, errors.New("no plugin broker to serve host services")
	}
	id := h.broker.NextId()
	// Accept before the plugin can learn the id: it may dial at once.
	ln, err := h.broker.Accept(id)
	if err != nil {
		return 0, fmt.Errorf("serve host services: %w", err)
	}
	srv := grpc.NewServer()
	arkv1.RegisterHostServiceServer(srv, hostServer{h: h})
	go func() { _ = srv.Serve(ln) }()
	go func() {
		select {
		case <-h.done: // the plugin exited
		case <-h.stop:
		}
		srv.Stop()
	}()
	h.id, h.srv = id, srv
	return id, nil
}

func (h *hostServices) register(host ark.Host) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	h.calls[h.next] = host
	return h.next
}

func (h *hostServices) unregister(id uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.calls, id)
}

func (h *hostServices) lookup(id uint64) ark.Host {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[id]
}

func (h *hostServices) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.stop)
}

type hostServer struct {
	arkv1.UnimplementedHostServiceServer
	h *hostServices
}

func (s hostServer) State(ctx context.Context, r *arkv1.StateRequest) (*arkv1.StateResponse, error) {
	host := s.h.lookup(r.GetCallId())
	if host == nil {
		return nil, errorToStatus(fmt.Errorf("state of %q: call %d is not running: host services answer only while an action runs", r.GetTag(), r.GetCallId()))
	}
	st, err := host.State(ctx, r.GetTag())
	if err != nil {
		return nil, errorToStatus(err)
	}
	return &arkv1.StateResponse{State: st}, nil
}
