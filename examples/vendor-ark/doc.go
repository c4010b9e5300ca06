// Command vendor-ark is a sample vendor plugin: the "flagfile" resource
// type, which keeps a marker file in existence while the resource is in
// service. It is built on sdk/ exactly as a third-party ARK would be, and
// shows the three pieces a vendor writes: the type (flagfile.go), a
// one-line main (main.go) and a conformance test (flagfile_test.go).
//
// It must import only sdk/ packages, never host/ or plugins/.
package main
