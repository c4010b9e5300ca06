package ark

import (
	"errors"
	"fmt"
)

// Class is the error class of a failure, after OCF's distinction; it tells
// the host where trying again can help.
type Class int

// Error classes.
const (
	ClassNone          Class = iota // not classified: treated like Transient
	ClassTransient                  // may succeed again on this node
	ClassNotInstalled               // this node can never run it: don't try here again
	ClassMisconfigured              // no node can run it: stop trying everywhere
	ClassNotSupported               // the type does not implement the action
)

func (c Class) String() string {
	switch c {
	case ClassTransient:
		return "transient"
	case ClassNotInstalled:
		return "not installed"
	case ClassMisconfigured:
		return "misconfigured"
	case ClassNotSupported:
		return "not supported"
	}
	return "unclassified"
}

// Sentinels for errors.Is: an error of class C matches the sentinel of C.
var (
	ErrTransient     = &classSentinel{ClassTransient}
	ErrNotInstalled  = &classSentinel{ClassNotInstalled}
	ErrMisconfigured = &classSentinel{ClassMisconfigured}
	ErrNotSupported  = &classSentinel{ClassNotSupported}
)

type classSentinel struct{ c Class }

func (s *classSentinel) Error() string { return s.c.String() }

// Error is an error with a class. It unwraps to its cause and matches the
// sentinel of its class under errors.Is.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Class.String()
	}
	return e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the class sentinel.
func (e *Error) Is(target error) bool {
	s, ok := target.(*classSentinel)
	return ok && s.c == e.Class
}

// Transient marks err as transient.
func Transient(err error) error { return classed(ClassTransient, err) }

// NotInstalled marks err as "this node can never run it".
func NotInstalled(err error) error { return classed(ClassNotInstalled, err) }

// Misconfigured marks err as "no node can run it".
func Misconfigured(err error) error { return classed(ClassMisconfigured, err) }

// Errorf builds a classed error with a formatted message (%w works).
func Errorf(c Class, format string, args ...any) error {
	return &Error{Class: c, Err: fmt.Errorf(format, args...)}
}

func classed(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Err: err}
}

// ClassOf returns the class of err: the class of the outermost *Error in
// its chain, ClassNotSupported for ErrNotSupported, else ClassNone.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	var s *classSentinel
	if errors.As(err, &s) {
		return s.c
	}
	return ClassNone
}
