package sh

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/sdk/ark"
)

// server answers the prelude functions of one system-bash run: log,
// logcmd, state and script errors, over TCP on 127.0.0.1 (what bash can
// reach with /dev/tcp), each request carrying the run's random token.
type server struct {
	inv   *interpreters.Invocation
	ctx   context.Context
	ln    net.Listener
	token string
	// path is the script's path; ran is the file bash runs, when it is a
	// copy, so that error locations name the script.
	path, ran string

	mu    sync.Mutex
	fatal error
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newServer(ctx context.Context, inv *interpreters.Invocation, path, ran string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1 for the bash builtins: %w", err)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		ln.Close()
		return nil, fmt.Errorf("make a token: %w", err)
	}
	s := &server{inv: inv, ctx: ctx, ln: ln, token: hex.EncodeToString(b), path: path, ran: ran, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// endpoint is the host/port part of bash's /dev/tcp/host/port.
func (s *server) endpoint() string {
	a := s.ln.Addr().(*net.TCPAddr)
	return fmt.Sprintf("127.0.0.1/%d", a.Port)
}

func (s *server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.handle(c)
		}()
	}
}

// close stops the server: requests from processes the script left
// running fail from now on.
func (s *server) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// scriptError returns the first script error reported, nil if none.
func (s *server) scriptError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

// fail records a script error at loc ("file:line") and returns the reply.
func (s *server) fail(loc string, err error) string {
	if s.ran != "" {
		if rest, ok := strings.CutPrefix(loc, s.ran+":"); ok {
			loc = s.path + ":" + rest
		}
	}
	s.mu.Lock()
	if s.fatal == nil {
		s.fatal = fmt.Errorf("%s: %w", loc, err)
	}
	s.mu.Unlock()
	return "1\t" + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
}

func (s *server) handle(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
	if len(f) < 2 || subtle.ConstantTimeCompare([]byte(f[0]), []byte(s.token)) != 1 {
		return
	}
	for i := range f {
		f[i] = unescape(f[i])
	}
	_ = c.SetReadDeadline(time.Time{})
	reply := func(s string) { _, _ = io.WriteString(c, s) }
	switch op, a := f[1], f[2:]; {
	case op == "log" && len(a) == 4:
		if err := s.inv.LogBuiltin(a[1], a[2], a[3]); err != nil {
			reply(s.fail(a[0], err))
			return
		}
		reply("0\t\n")
	case op == "state" && len(a) == 2:
		st, err := s.inv.State(s.ctx, a[1])
		if err != nil {
			reply(s.fail(a[0], err))
			return
		}
		reply("0\t" + st + "\n")
	case op == "fatal" && len(a) == 2:
		s.fail(a[0], errors.New(a[1]))
		reply("0\t\n")
	case op == "logcmd" && len(a) == 3:
		level, err := ark.ParseLevel(a[1])
		if err != nil {
			reply(s.fail(a[0], fmt.Errorf("logcmd: %w", err)))
			return
		}
		reply("0\t\n")
		w := s.inv.LineWriter(level, a[2])
		s.copyUntil(w, r, []byte("\x01ARK-END-"+s.token+"\n"))
		w.Close()
		reply("0\t\n")
	}
}

// copyUntil copies r to w until end (not copied) or EOF.
func (s *server) copyUntil(w io.Writer, r io.Reader, end []byte) {
	buf := make([]byte, 0, 64<<10)
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if i := bytes.Index(buf, end); i >= 0 {
			_, _ = w.Write(buf[:i])
			return
		}
		// Keep what could be the start of end.
		if keep := len(end) - 1; len(buf) > keep {
			_, _ = w.Write(buf[:len(buf)-keep])
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		}
		if err != nil {
			_, _ = w.Write(buf)
			return
		}
	}
}

// unescape undoes the prelude's escaping of \\, \n and \t.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
