// mooring-helm: Mooring's Helm helper. One long-lived process per helm-controller; it renders charts and runs
// Helm's own install, upgrade, test, rollback and uninstall actions (releases stored as Helm stores them), one
// goroutine per request. Requests and responses are JSON lines on stdin and stdout; the first request
// configures the connection to the cluster.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// version is stamped by the build: the Helm module version this helper is built from.
var version = "dev"

type connection struct {
	Server        string  `json:"server"`
	CAData        []byte  `json:"caData,omitempty"`
	CertData      []byte  `json:"certData,omitempty"`
	KeyData       []byte  `json:"keyData,omitempty"`
	Token         string  `json:"token,omitempty"`
	TokenFile     string  `json:"tokenFile,omitempty"`
	Username      string  `json:"username,omitempty"`
	Password      string  `json:"password,omitempty"`
	Insecure      bool    `json:"insecure,omitempty"`
	TLSServerName string  `json:"tlsServerName,omitempty"`
	Impersonate   string  `json:"impersonate,omitempty"`
	QPS           float32 `json:"qps,omitempty"`
	Burst         int     `json:"burst,omitempty"`
}

type server struct {
	out   *json.Encoder
	outMu sync.Mutex

	mu         sync.Mutex
	base       *rest.Config
	identities map[string]*identity
}

func (s *server) reply(r any) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if err := s.out.Encode(r); err != nil {
		fmt.Fprintf(os.Stderr, "mooring-helm: cannot write a response: %v\n", err)
		os.Exit(1)
	}
}

func (s *server) configure(c *connection) error {
	if c == nil || c.Server == "" {
		return fmt.Errorf("configure needs connection.server")
	}
	cfg := &rest.Config{
		Host:            c.Server,
		BearerToken:     c.Token,
		BearerTokenFile: c.TokenFile,
		Username:        c.Username,
		Password:        c.Password,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData, CertData: c.CertData, KeyData: c.KeyData, Insecure: c.Insecure, ServerName: c.TLSServerName},
		UserAgent:       "helm-controller",
	}
	if c.Impersonate != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: c.Impersonate}
	}
	// No client-side rate limit unless asked: the apiserver's priority and fairness decide, as in the
	// TypeScript controllers.
	cfg.QPS = -1
	if c.QPS > 0 {
		cfg.QPS = c.QPS
		cfg.Burst = c.Burst
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = cfg
	s.identities = map[string]*identity{}
	return nil
}

// identityFor returns the shared clients of the controller (user "") or of an impersonated user.
func (s *server) identityFor(user string) (*identity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == nil {
		return nil, fmt.Errorf("not configured: the first request must be configure")
	}
	if id, ok := s.identities[user]; ok {
		return id, nil
	}
	id, err := newIdentity(s.base, user)
	if err != nil {
		return nil, err
	}
	s.identities[user] = id
	return id, nil
}

func (s *server) handle(line []byte) {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		s.reply(response{ID: req.ID, Error: "malformed request: " + err.Error()})
		return
	}
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "mooring-helm: panic in %s: %v\n%s", req.Op, p, debug.Stack())
			s.reply(response{ID: req.ID, Error: fmt.Sprintf("internal error in %s: %v", req.Op, p)})
		}
	}()
	resp := s.dispatch(&req)
	resp.ID = req.ID
	s.reply(resp)
}

func (s *server) dispatch(req *request) response {
	switch req.Op {
	case "configure":
		if err := s.configure(req.Connection); err != nil {
			return response{Error: err.Error()}
		}
		return response{OK: true, Version: version}
	case "ping":
		return response{OK: true, Version: version}
	}
	id, err := s.identityFor(req.Impersonate)
	if err != nil {
		return response{Error: err.Error()}
	}
	return run(id, req)
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Printf("mooring-helm %s\n", version)
		return
	}
	// --cpu-profile=<file>: a Go CPU profile of the helper's whole life, written when stdin closes (for
	// `go tool pprof`; the benchmarks use it to find where an install's CPU goes).
	for _, arg := range os.Args[1:] {
		file, ok := strings.CutPrefix(arg, "--cpu-profile=")
		if !ok {
			fmt.Fprintf(os.Stderr, "mooring-helm: unknown argument %q (allowed: version, --cpu-profile=<file>)\n", arg)
			os.Exit(2)
		}
		f, err := os.Create(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mooring-helm: cannot write the CPU profile: %v\n", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "mooring-helm: cannot start the CPU profile: %v\n", err)
			os.Exit(2)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	s := &server{out: json.NewEncoder(os.Stdout)}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	var wg sync.WaitGroup
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 1 {
			wg.Add(1)
			go func(l []byte) {
				defer wg.Done()
				s.handle(l)
			}(line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mooring-helm: reading requests: %v\n", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
	}
	// stdin closed: the controller is gone or stopping; finish what runs, then exit.
	wg.Wait()
}

// actionVersionSet lists the cluster's API versions as Helm's .Capabilities.APIVersions.
func actionVersionSet(dc discovery.CachedDiscoveryInterface) (chartutil.VersionSet, error) {
	return actionGetVersionSet(dc)
}
