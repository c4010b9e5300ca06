// Command ark-echo is the small TCP service the example scripts protect: a
// line echo server, and a probe that checks one answers.
//
//	ark-echo serve -addr 127.0.0.1:7101 [-pidfile FILE] [-journal FILE -name NODE]
//	ark-echo probe -addr 127.0.0.1:7101 [-timeout 1s]
//
// serve refuses to start when the address is taken (exit 2); probe exits 0
// when the server echoes a line back, 1 otherwise.
//
// With -journal, serve is also a tiny database for the whole-system test
// and the hierarchy example: a line "W <n>" appends "<n> <node>
// <unix-ns>" to the journal (a file on the protected filesystem), fsyncs
// it, and only then answers "OK <n> <node>". The journal is opened once
// at start, so a filesystem unmounted under the service is never written
// through to the directory beneath it.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:7101", "address to listen on or probe")
	pidfile := fs.String("pidfile", "", "serve: write the pid here, remove it on exit")
	timeout := fs.Duration("timeout", time.Second, "probe: how long to wait for the echo")
	journal := fs.String("journal", "", "serve: append \"W <n>\" records to this file (fsynced before the answer)")
	name := fs.String("name", "", "serve: the node name written in journal records")
	_ = fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		if err := serve(*addr, *pidfile, *journal, *name); err != nil {
			fmt.Fprintln(os.Stderr, "ark-echo:", err)
			os.Exit(2)
		}
	case "probe":
		if err := probe(*addr, *timeout); err != nil {
			fmt.Fprintln(os.Stderr, "ark-echo:", err)
			os.Exit(1)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ark-echo serve|probe -addr HOST:PORT [-pidfile FILE] [-journal FILE -name NODE] [-timeout D]")
	os.Exit(2)
}

func serve(addr, pidfile, journal, name string) error {
	var j *journalFile
	if journal != "" {
		f, err := os.OpenFile(journal, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		j = &journalFile{f: f, name: name}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if pidfile != "" {
		if err := os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(pidfile)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; ln.Close() }()
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				line := sc.Text()
				if n, ok := strings.CutPrefix(line, "W "); ok && j != nil {
					line = j.write(n)
				}
				if _, err := fmt.Fprintln(c, line); err != nil {
					return
				}
			}
		}()
	}
}

// journalFile is serve's record log; writes are serialized so that each
// record is one whole line.
type journalFile struct {
	mu   sync.Mutex
	f    *os.File
	name string
}

// write appends record n and returns the answer: "OK <n> <node>" once it
// is on disk, "ERR ..." if it could not be.
func (j *journalFile) write(n string) string {
	if _, err := strconv.ParseUint(n, 10, 64); err != nil {
		return "ERR bad record number " + strconv.Quote(n)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := fmt.Fprintf(j.f, "%s %s %d\n", n, j.name, time.Now().UnixNano()); err != nil {
		return "ERR " + err.Error()
	}
	if err := j.f.Sync(); err != nil {
		return "ERR " + err.Error()
	}
	return "OK " + n + " " + j.name
}

func probe(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintln(c, "ping"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no echo from %s: %w", addr, err)
	}
	if line != "ping\n" {
		return fmt.Errorf("%s answered %q, not ping", addr, line)
	}
	return nil
}
