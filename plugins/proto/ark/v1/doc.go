// Package arkv1 is the generated Go code of the ark plugin protocol
// (ark.proto beside it). Regenerate it with plugins/gen.sh; never edit the
// *.pb.go files by hand.
//
// Only plugins/ imports this package, and only plugins/convert.go turns its
// messages into ark types: the host, the SDK and vendors see the Go types of
// sdk/ark, never these. Plugins written in other languages implement
// ark.proto directly.
package arkv1
