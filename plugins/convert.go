package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	arkv1 "github.com/ark-ha/ark/plugins/proto/ark/v1"
	"github.com/ark-ha/ark/sdk/ark"
)

// This file is the only place where protobuf messages and ark types meet.

var actionToPB = map[ark.Action]arkv1.Action{
	ark.Restore:    arkv1.Action_ACTION_RESTORE,
	ark.Remove:     arkv1.Action_ACTION_REMOVE,
	ark.QuickCheck: arkv1.Action_ACTION_QUICK_CHECK,
	ark.Recover:    arkv1.Action_ACTION_RECOVER,
}

func actionFromPB(a arkv1.Action) (ark.Action, error) {
	for k, v := range actionToPB {
		if v == a {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown action %v", a)
}

func infoToPB(i ark.Info) *arkv1.InfoResponse {
	out := &arkv1.InfoResponse{Type: i.Type, Version: i.Version, Doc: i.Doc, OpenParams: i.OpenParams}
	for _, p := range i.Params {
		out.Params = append(out.Params, &arkv1.ParamSpec{
			Name: p.Name, Type: string(p.Type), Default: p.Default, Required: p.Required, Doc: p.Doc,
		})
	}
	for _, a := range i.Actions {
		out.Actions = append(out.Actions, actionToPB[a]) // unknown names become UNSPECIFIED
	}
	for _, a := range ark.Actions { // canonical order keeps the wire deterministic
		if d, ok := i.DefaultTimeouts[a]; ok {
			out.DefaultTimeouts = append(out.DefaultTimeouts, &arkv1.ActionTimeout{
				Action: actionToPB[a], Timeout: durationpb.New(d),
			})
		}
	}
	return out
}

func infoFromPB(r *arkv1.InfoResponse) (ark.Info, error) {
	i := ark.Info{Type: r.GetType(), Version: r.GetVersion(), Doc: r.GetDoc(), OpenParams: r.GetOpenParams()}
	for _, p := range r.GetParams() {
		i.Params = append(i.Params, ark.ParamSpec{
			Name: p.GetName(), Type: ark.ParamType(p.GetType()), Default: p.GetDefault(),
			Required: p.GetRequired(), Doc: p.GetDoc(),
		})
	}
	for _, a := range r.GetActions() {
		act, err := actionFromPB(a)
		if err != nil {
			return ark.Info{}, fmt.Errorf("info of type %q: %w", i.Type, err)
		}
		i.Actions = append(i.Actions, act)
	}
	for _, t := range r.GetDefaultTimeouts() {
		act, err := actionFromPB(t.GetAction())
		if err != nil {
			return ark.Info{}, fmt.Errorf("info of type %q: default timeout: %w", i.Type, err)
		}
		if i.DefaultTimeouts == nil {
			i.DefaultTimeouts = map[ark.Action]time.Duration{}
		}
		i.DefaultTimeouts[act] = t.GetTimeout().AsDuration()
	}
	return i, nil
}

func runRequestToPB(a ark.Action, req *ark.Request, hostID uint32, callID uint64) *arkv1.RunRequest {
	return &arkv1.RunRequest{
		Action:       actionToPB[a],
		Tag:          req.Tag,
		Id:           req.ID,
		Params:       req.Params,
		Env:          req.Env,
		Timeout:      durationpb.New(req.Timeout),
		HostBrokerId: hostID,
		CallId:       callID,
	}
}

// runRequestFromPB returns the action and a request without Log and Host,
// which the server fills in.
func runRequestFromPB(r *arkv1.RunRequest) (ark.Action, *ark.Request, error) {
	a, err := actionFromPB(r.GetAction())
	if err != nil {
		return "", nil, err
	}
	params, env := r.GetParams(), r.GetEnv()
	if params == nil {
		params = map[string]string{}
	}
	if env == nil {
		env = map[string]string{}
	}
	return a, &ark.Request{
		Tag:     r.GetTag(),
		ID:      r.GetId(),
		Params:  params,
		Env:     env,
		Timeout: r.GetTimeout().AsDuration(),
	}, nil
}

func logLineToPB(l ark.LogLine) *arkv1.RunResponse {
	return &arkv1.RunResponse{Event: &arkv1.RunResponse_Log{Log: &arkv1.LogLine{
		Time: timestamppb.New(l.Time), Level: int32(l.Level), Code: l.Code, Message: l.Message,
	}}}
}

func logLineFromPB(l *arkv1.LogLine) ark.LogLine {
	out := ark.LogLine{Level: slog.Level(l.GetLevel()), Code: l.GetCode(), Message: l.GetMessage()}
	if l.GetTime() != nil {
		out.Time = l.GetTime().AsTime()
	}
	return out
}

func resultToPB(r ark.Result) *arkv1.RunResponse {
	return &arkv1.RunResponse{Event: &arkv1.RunResponse_Result{Result: &arkv1.Result{
		Status: int32(r.Status), Message: r.Message, Duration: durationpb.New(r.Duration),
		TimedOut: r.TimedOut, Warnings: r.Warnings,
	}}}
}

func resultFromPB(r *arkv1.Result) ark.Result {
	return ark.Result{
		Status: int(r.GetStatus()), Message: r.GetMessage(), Duration: r.GetDuration().AsDuration(),
		TimedOut: r.GetTimedOut(), Warnings: r.GetWarnings(),
	}
}

var classToPB = map[ark.Class]arkv1.ErrorClass{
	ark.ClassNone:          arkv1.ErrorClass_ERROR_CLASS_UNSPECIFIED,
	ark.ClassTransient:     arkv1.ErrorClass_ERROR_CLASS_TRANSIENT,
	ark.ClassNotInstalled:  arkv1.ErrorClass_ERROR_CLASS_NOT_INSTALLED,
	ark.ClassMisconfigured: arkv1.ErrorClass_ERROR_CLASS_MISCONFIGURED,
	ark.ClassNotSupported:  arkv1.ErrorClass_ERROR_CLASS_NOT_SUPPORTED,
}

var classCode = map[ark.Class]codes.Code{
	ark.ClassNone:          codes.Unknown,
	ark.ClassTransient:     codes.Unavailable,
	ark.ClassNotInstalled:  codes.FailedPrecondition,
	ark.ClassMisconfigured: codes.InvalidArgument,
	ark.ClassNotSupported:  codes.Unimplemented,
}

// errorToStatus turns an error returned by ark code into a gRPC status
// error carrying its class, its cause and its message.
func errorToStatus(err error) error {
	if err == nil {
		return nil
	}
	class := ark.ClassOf(err)
	detail := &arkv1.ErrorDetail{Class: classToPB[class]}
	code := classCode[class]
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		detail.Cause = arkv1.ErrorCause_ERROR_CAUSE_DEADLINE_EXCEEDED
		if class == ark.ClassNone {
			code = codes.DeadlineExceeded
		}
	case errors.Is(err, context.Canceled):
		detail.Cause = arkv1.ErrorCause_ERROR_CAUSE_CANCELED
		if class == ark.ClassNone {
			code = codes.Canceled
		}
	}
	st, derr := status.New(code, err.Error()).WithDetails(detail)
	if derr != nil { // cannot happen with a valid message; keep the text at least
		return status.Error(code, err.Error())
	}
	return st.Err()
}

// errorFromStatus turns a status error made by errorToStatus back into an
// error with the original message, class and cause. It reports false when
// err carries no ErrorDetail: then the error came from the transport, not
// from the other side's code.
func errorFromStatus(err error) (error, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return err, false
	}
	for _, d := range st.Details() {
		detail, ok := d.(*arkv1.ErrorDetail)
		if !ok {
			continue
		}
		rerr := &remoteError{msg: st.Message()}
		switch detail.GetCause() {
		case arkv1.ErrorCause_ERROR_CAUSE_DEADLINE_EXCEEDED:
			rerr.cause = context.DeadlineExceeded
		case arkv1.ErrorCause_ERROR_CAUSE_CANCELED:
			rerr.cause = context.Canceled
		}
		for c, pb := range classToPB {
			if pb == detail.GetClass() && c != ark.ClassNone {
				return &ark.Error{Class: c, Err: rerr}, true
			}
		}
		return rerr, true
	}
	return err, false
}

// remoteError is an error reported by the other side of the wire: its
// original message, and the context error it wrapped, if any.
type remoteError struct {
	msg   string
	cause error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.cause }
