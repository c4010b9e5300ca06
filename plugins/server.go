package plugins

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	arkv1 "github.com/ark-ha/ark/plugins/proto/ark/v1"
	"github.com/ark-ha/ark/sdk/ark"
)

// Server adapts an ark.ResourceType to the gRPC service of the protocol
// (plugin side). It dials the host's services lazily, the first time an
// action asks the host something, and keeps that connection for the life
// of the plugin. sdk.Serve builds one; nothing else needs to.
type Server struct {
	rt     ark.ResourceType
	broker *plugin.GRPCBroker

	mu    sync.Mutex
	hosts map[uint32]*grpc.ClientConn // by broker id
}

// NewServer returns a Server for rt; broker may be nil, then actions see
// no host services (req.Host is nil).
func NewServer(rt ark.ResourceType, broker *plugin.GRPCBroker) *Server {
	return &Server{rt: rt, broker: broker, hosts: map[uint32]*grpc.ClientConn{}}
}

// Register registers the resource type service on g.
func (s *Server) Register(g *grpc.Server) {
	arkv1.RegisterResourceTypeServiceServer(g, grpcServer{s: s})
}

// Close closes the connections to the host's services.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.hosts {
		_ = c.Close()
		delete(s.hosts, id)
	}
	return nil
}

// hostConn returns the cached connection to the host services served
// under broker id, dialling it on first use. A failed dial is not cached.
func (s *Server) hostConn(id uint32) (*grpc.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.hosts[id]; ok {
		return c, nil
	}
	if s.broker == nil {
		return nil, fmt.Errorf("no plugin broker to reach the host")
	}
	c, err := s.broker.Dial(id)
	if err != nil {
		return nil, fmt.Errorf("dial host services (broker id %d): %w", id, err)
	}
	s.hosts[id] = c
	return c, nil
}

// grpcServer implements the generated service interface; it only moves
// messages between the wire and s.rt, through convert.go.
type grpcServer struct {
	arkv1.UnimplementedResourceTypeServiceServer
	s *Server
}

func (g grpcServer) Info(ctx context.Context, _ *arkv1.InfoRequest) (*arkv1.InfoResponse, error) {
	var info ark.Info
	err := guard("info", func() (err error) {
		info, err = g.s.rt.Info(ctx)
		return err
	})
	if err != nil {
		return nil, errorToStatus(err)
	}
	return infoToPB(info), nil
}

func (g grpcServer) Validate(ctx context.Context, r *arkv1.ValidateRequest) (*arkv1.ValidateResponse, error) {
	params := r.GetParams()
	if params == nil {
		params = map[string]string{}
	}
	err := guard("validate", func() error { return g.s.rt.Validate(ctx, params) })
	if err != nil {
		return nil, errorToStatus(err)
	}
	return &arkv1.ValidateResponse{}, nil
}

func (g grpcServer) Run(r *arkv1.RunRequest, stream grpc.ServerStreamingServer[arkv1.RunResponse]) error {
	action, req, err := runRequestFromPB(r)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ctx := stream.Context()
	sink := &logSink{stream: stream}
	req.Log = sink.send
	if id := r.GetHostBrokerId(); id != 0 {
		req.Host = &remoteHost{s: g.s, brokerID: id, callID: r.GetCallId()}
	}
	res, err := g.s.dispatch(ctx, action, req)
	sink.close()
	if serr := stream.Send(resultToPB(res)); serr != nil && err == nil {
		return serr
	}
	return errorToStatus(err)
}

func (s *Server) dispatch(ctx context.Context, a ark.Action, req *ark.Request) (res ark.Result, err error) {
	err = guard(string(a)+" "+req.Tag, func() (err error) {
		res, err = ark.Run(ctx, s.rt, a, req)
		return err
	})
	return res, err
}

// guard runs fn and turns a panic of the resource type into an error, so
// that a bug in one call does not kill the other actions running in the
// plugin. The stack goes to the plugin's stderr, which the host logs.
func guard(what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "panic in %s: %v\n%s", what, p, debug.Stack())
			err = fmt.Errorf("%s: resource type panicked: %v", what, p)
		}
	}()
	return fn()
}

// logSink sends log lines of a running action to the host. Send on a gRPC
// stream is not safe for concurrent use, and lines logged after the action
// returned (by a goroutine it leaked) must be dropped.
type logSink struct {
	mu     sync.Mutex
	stream grpc.ServerStreamingServer[arkv1.RunResponse]
	closed bool
}

func (l *logSink) send(line ark.LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if err := l.stream.Send(logLineToPB(line)); err != nil {
		l.closed = true // the host is gone; the action will see its ctx end
	}
}

func (l *logSink) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// remoteHost is the ark.Host a plugin's action sees: it asks the host over
// the broker connection, naming the call it belongs to.
type remoteHost struct {
	s        *Server
	brokerID uint32
	callID   uint64
}

func (h *remoteHost) State(ctx context.Context, tag string) (string, error) {
	conn, err := h.s.hostConn(h.brokerID)
	if err != nil {
		return "", fmt.Errorf("state of %q: %w", tag, err)
	}
	resp, err := arkv1.NewHostServiceClient(conn).State(ctx, &arkv1.StateRequest{CallId: h.callID, Tag: tag})
	if err != nil {
		if rerr, ok := errorFromStatus(err); ok {
			return "", rerr
		}
		return "", fmt.Errorf("state of %q: host services: %w", tag, err)
	}
	return resp.GetState(), nil
}
