package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Server is a webhook process under test.
type Server struct {
	Name   string
	URL    string // the endpoint reviews are posted to
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Start runs the command with its output in dir/<name>.log.
func Start(name, url, dir string, argv ...string) (*Server, error) {
	return StartEnv(name, url, dir, nil, argv...)
}

// StartEnv is Start with extra environment variables (KEY=value) for the process.
func StartEnv(name, url, dir string, env []string, argv ...string) (*Server, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	f.Close()
	s := &Server{Name: name, URL: url, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// WaitReady posts the body until the server answers it correctly.
func (s *Server) WaitReady(ctx context.Context, c *Client, b *Body, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var buf bytes.Buffer
	var last error
	for ctx.Err() == nil {
		if s.Exited() {
			return fmt.Errorf("%s exited: %v\n%s", s.Name, s.err, s.LogTail(2000))
		}
		if last = c.Do(ctx, b, &buf); last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready: %v\n%s", s.Name, last, s.LogTail(2000))
}

// Stop sends SIGTERM and waits for the exit (SIGKILL after 20 s).
func (s *Server) Stop() error {
	if s.Exited() {
		return fmt.Errorf("%s had exited: %v", s.Name, s.err)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) && !ee.Exited() {
		return nil // ended by the signal
	}
	return s.err
}

// LogTail returns the last n bytes of the server's output.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(s.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
