// Command pulumi-language-rust is a TEST DOUBLE of pulumi-gestalt's language host
// (github.com/andrzejressel/pulumi-gestalt/pulumi-language-rust, v0.0.12), built here
// because neither that host nor Pulumi's own Go host is served by the Go module proxy this
// project can reach (see docs/architecture.md, "Tested on the real Pulumi engine").
//
// It implements exactly the part of the host's contract that `runtime: {name: rust,
// options: {binary: …}}` uses: the engine starts it with its own address as the last
// argument, it prints the port it serves on, and Run starts the prebuilt program with the
// environment a gestalt 0.0.12 program reads (PULUMI_MONITOR, PULUMI_ENGINE, PULUMI_PROJECT,
// PULUMI_STACK, PULUMI_ORGANIZATION, PULUMI_ROOT_DIRECTORY, PULUMI_CONFIG,
// PULUMI_CONFIG_SECRET_KEYS, PULUMI_DRY_RUN, PULUMI_PARALLEL). Like the real host with a
// binary, it reports no required plugins and never builds anything.
//
// Unlike gestalt's host it forwards the program's output as it comes (the real one shows it
// only when the program fails).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The gestalt release whose host this stands in for.
const version = "0.0.12"

// How much of a failed program's stderr the error message carries.
const tailBytes = 4096

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engine string
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engine = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// A prebuilt binary declares no plugins: the AWS provider is installed by hand
// (`pulumi plugin install resource aws <version>`), as with gestalt's host.
func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// Nothing to install for a prebuilt binary.
func (h *host) InstallDependencies(
	*pulumirpc.InstallDependenciesRequest,
	grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	return nil
}

// binary is the program to run: `options.binary`, relative to the project's root.
func binary(info *pulumirpc.ProgramInfo) (string, error) {
	value, ok := info.GetOptions().GetFields()["binary"]
	if !ok || value.GetStringValue() == "" {
		return "", fmt.Errorf("Pulumi.yaml: runtime.options.binary is not set; " +
			"this host runs only a prebuilt program (build it with `make infra`)")
	}
	path := value.GetStringValue()
	if !filepath.IsAbs(path) {
		path = filepath.Join(info.GetRootDirectory(), path)
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the program %s does not exist: build it with `make infra`", path)
	}
	return path, nil
}

func (h *host) Run(_ context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	program, err := binary(info)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	config, err := jsonObject(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys, err := jsonArray(req.GetConfigSecretKeys())
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(program, req.GetArgs()...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(os.Environ(),
		"PULUMI_MONITOR="+req.GetMonitorAddress(),
		"PULUMI_ENGINE="+h.engine,
		"PULUMI_PROJECT="+req.GetProject(),
		"PULUMI_STACK="+req.GetStack(),
		"PULUMI_ORGANIZATION="+req.GetOrganization(),
		"PULUMI_ROOT_DIRECTORY="+info.GetRootDirectory(),
		"PULUMI_CONFIG="+config,
		"PULUMI_CONFIG_SECRET_KEYS="+secretKeys,
		"PULUMI_DRY_RUN="+strconv.FormatBool(req.GetDryRun()),
		"PULUMI_PARALLEL="+strconv.Itoa(int(req.GetParallel())),
	)
	tail := &tailWriter{limit: tailBytes}
	cmd.Stdout = os.Stdout
	cmd.Stderr = io.MultiWriter(os.Stderr, tail)
	if err := cmd.Run(); err != nil {
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("the program %s failed (%v):\n%s", program, err, tail.String()),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// tailWriter keeps the last `limit` bytes written to it.
type tailWriter struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.limit; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

func main() {
	// The engine's address is the last argument; flags before it are not used.
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-language-rust [flags] <engine address>")
		os.Exit(2)
	}
	h := &host{engine: os.Args[len(os.Args)-1]}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "could not serve: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "serving failed: %v\n", err)
		os.Exit(1)
	}
}
