package vagrant

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A machine's boot record is the file machines/<name>.applied in the stack's Vagrant
// folder. machine-up.sh and machine-update.sh write it after each successful boot:
//
//	starts N
//	files DIGEST
//
// N is the value of FARM_STARTS the command ran with, and DIGEST is the digest of the
// Vagrantfile and machine files it applied.
const recordSuffix = ".applied"

// probeTimeout bounds each state query to a machine's provider.
const probeTimeout = 5 * time.Second

// Finding is the state of a machine as the program reads it before it plans the farm.
type Finding struct {
	// Starts is the value of the machine command's FARM_STARTS input. It is the value
	// the last boot recorded while the machine runs, and one more when the machine is
	// down, so that the plan updates the machine command and the update starts it.
	Starts int
	// Down is the reason the machine needs to start again. It is empty when the machine
	// runs, has not been booted yet, or its state cannot be read.
	Down string
	// Warning is the reason the state could not be read, or empty.
	Warning string
}

// Prober reads whether the farm's machines still run. Command resources keep the
// outputs they recorded, so neither refresh nor up detects a machine that was stopped
// or removed outside Pulumi. The program queries the provider instead, read-only.
type Prober struct {
	// ProjectDir is the project folder, where a relative FarmDir starts.
	ProjectDir string
	// FarmDir is the stack's Vagrant folder, relative to ProjectDir unless absolute.
	FarmDir string
	// Provider is the Vagrant provider of every machine: virtualbox or docker.
	Provider string
	// DockerHost is the Docker engine of the docker provider. Empty means the one that
	// DOCKER_HOST names in the environment, as for the machine commands, or else the
	// project's own engine, which local/dockerd.sh runs.
	DockerHost string
	// VBoxManage is the VirtualBox command. Empty means VBoxManage on PATH.
	VBoxManage string
	// Getenv reads the environment. Nil means os.Getenv.
	Getenv func(string) string

	docker *dockerEngine
}

// Machine returns the finding for the named machine.
func (p *Prober) Machine(name string) Finding {
	dir := p.FarmDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(p.ProjectDir, dir)
	}
	starts, booted, err := readRecord(filepath.Join(dir, "machines", name+recordSuffix))
	if err != nil {
		return Finding{Warning: err.Error()}
	}
	if !booted {
		return Finding{}
	}
	f := Finding{Starts: starts}
	idPath := filepath.Join(dir, ".vagrant", "machines", name, p.Provider, "id")
	raw, err := os.ReadFile(idPath)
	if errors.Is(err, os.ErrNotExist) {
		f.Down = "Vagrant has no record of it (removed outside Pulumi)"
	} else if err != nil {
		f.Warning = err.Error()
		return f
	} else {
		id := strings.TrimSpace(string(raw))
		switch p.Provider {
		case "docker":
			f.Down, f.Warning = p.dockerState(id)
		case "virtualbox":
			f.Down, f.Warning = p.virtualBoxState(id)
		default:
			f.Warning = fmt.Sprintf("the state of %s provider machines cannot be read", p.Provider)
		}
	}
	if f.Down != "" {
		f.Starts++
	}
	return f
}

// readRecord reads the starts line of a boot record. booted is false when there is no
// record.
func readRecord(path string) (starts int, booted bool, err error) {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		value, ok := strings.CutPrefix(scanner.Text(), "starts ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("%s: the starts line %q is not a count; remove the file and run up again", path, scanner.Text())
		}
		return n, true, nil
	}
	if err := scanner.Err(); err != nil {
		return 0, false, err
	}
	return 0, false, fmt.Errorf("%s has no starts line; remove the file and run up again", path)
}

// dockerState queries the Docker engine for the state of the container id.
func (p *Prober) dockerState(id string) (down, warning string) {
	if p.docker == nil {
		engine, err := p.dockerEngine()
		if err != nil {
			p.docker = &dockerEngine{err: err}
		} else {
			p.docker = engine
		}
	}
	if p.docker.stopped {
		return "the project's Docker engine is stopped, and its containers with it", ""
	}
	if p.docker.err != nil {
		return "", p.docker.err.Error()
	}
	state, err := p.docker.containerState(id)
	switch {
	case errors.Is(err, errNoContainer):
		return "its container is gone (removed outside Pulumi)", ""
	case err != nil:
		return "", err.Error()
	case state.Running:
		return "", ""
	default:
		return fmt.Sprintf("its container is %s", state.Status), ""
	}
}

// dockerEngine returns a client of the configured engine, or of the project's own one.
// The project's engine counts as stopped when `local/dockerd.sh status` exits with 3.
func (p *Prober) dockerEngine() (*dockerEngine, error) {
	host := p.DockerHost
	if host == "" {
		getenv := p.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		host = getenv("DOCKER_HOST")
	}
	if host == "" {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(p.ProjectDir, "local", "dockerd.sh"), "status")
		cmd.Dir = p.ProjectDir
		out, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			return &dockerEngine{stopped: true}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("local/dockerd.sh status failed: %v", err)
		}
		host = strings.TrimSpace(string(out))
	}
	return newDockerEngine(host)
}

var errNoContainer = errors.New("no such container")

// dockerEngine reads container states through the Docker engine's API.
type dockerEngine struct {
	client  *http.Client
	base    string
	stopped bool
	err     error
}

type containerState struct {
	Status  string `json:"Status"`
	Running bool   `json:"Running"`
}

func newDockerEngine(host string) (*dockerEngine, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("invalid DOCKER_HOST %q: %v", host, err)
	}
	transport := &http.Transport{}
	base := "http://docker"
	switch u.Scheme {
	case "unix":
		path := u.Path
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	case "tcp", "http":
		base = "http://" + u.Host
	default:
		return nil, fmt.Errorf("DOCKER_HOST %q: container states can be read only from unix:// and tcp:// engines", host)
	}
	return &dockerEngine{client: &http.Client{Transport: transport, Timeout: probeTimeout}, base: base}, nil
}

func (e *dockerEngine) containerState(id string) (containerState, error) {
	resp, err := e.client.Get(e.base + "/containers/" + url.PathEscape(id) + "/json")
	if err != nil {
		return containerState{}, fmt.Errorf("reading the state of container %s from the Docker engine failed: %v", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return containerState{}, errNoContainer
	}
	if resp.StatusCode != http.StatusOK {
		return containerState{}, fmt.Errorf("reading the state of container %s from the Docker engine failed: %s", id, resp.Status)
	}
	var body struct {
		State containerState `json:"State"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return containerState{}, fmt.Errorf("decoding the Docker engine's response for container %s failed: %v", id, err)
	}
	return body.State, nil
}

// virtualBoxState queries VBoxManage for the state of the VM with the given UUID. Its
// --machinereadable output has a line VMState="running" for a running VM.
func (p *Prober) virtualBoxState(id string) (down, warning string) {
	command := p.VBoxManage
	if command == "" {
		command = "VBoxManage"
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, command, "showvminfo", id, "--machinereadable").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && strings.Contains(string(exit.Stderr), "VBOX_E_OBJECT_NOT_FOUND") {
			return "its VM is gone (removed outside Pulumi)", ""
		}
		detail := err.Error()
		if exit != nil && len(exit.Stderr) > 0 {
			detail = strings.TrimSpace(string(exit.Stderr))
		}
		return "", fmt.Sprintf("%s showvminfo %s failed: %s", command, id, detail)
	}
	for _, line := range strings.Split(string(out), "\n") {
		value, ok := strings.CutPrefix(strings.TrimSpace(line), "VMState=")
		if !ok {
			continue
		}
		state := strings.Trim(value, `"`)
		if state == "running" {
			return "", ""
		}
		return "its VM is " + state, ""
	}
	return "", fmt.Sprintf("%s showvminfo %s printed no VMState line", command, id)
}
