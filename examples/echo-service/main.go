// Command ark-echo is the small TCP service the example scripts protect: a
// line echo server, and a probe that checks one answers.
//
//	ark-echo serve -addr 127.0.0.1:7101 [-pidfile FILE]
//	ark-echo probe -addr 127.0.0.1:7101 [-timeout 1s]
//
// serve refuses to start when the address is taken (exit 2); probe exits 0
// when the server echoes a line back, 1 otherwise.
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
	_ = fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		if err := serve(*addr, *pidfile); err != nil {
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
	fmt.Fprintln(os.Stderr, "usage: ark-echo serve|probe -addr HOST:PORT [-pidfile FILE] [-timeout D]")
	os.Exit(2)
}

func serve(addr, pidfile string) error {
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
				if _, err := fmt.Fprintln(c, sc.Text()); err != nil {
					return
				}
			}
		}()
	}
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
