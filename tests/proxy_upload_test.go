package tests

// The proxy upload tests run the upload command that the program registers for the dev
// stack, unchanged, against a real OpenSSH server on 127.0.0.1 that plays the nginx
// machine. The server runs in its own mount and PID namespaces. In its mount namespace
// /srv, /root, /var/log/nginx and /var/lib/nginx are folders of the test, so the install
// script writes /srv/nginx/nginx.conf into the test's sandbox and never into this
// computer's own /srv. Its PID namespace ends every process of the sandbox when the
// server stops. A stand-in docker (testdata/proxy-upload/docker) comes first on the
// server's PATH: it checks files with the real nginx and forwards the reload signal to
// the nginx that a test starts inside the sandbox.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components"
	"stf-farm/components/model"
	"stf-farm/components/render"
)

const (
	// uploadCommandName is the command that uploads nginx.conf in the dev stack.
	uploadCommandName = "stf-farm-proxy-nginx-conf"
	// uploadTimeout bounds one run of the upload script.
	uploadTimeout = 60 * time.Second
	// uploadWait bounds every wait for a server to start or for nginx to reload.
	uploadWait = 15 * time.Second
	// uploadStopWait bounds the wait for a stopped process to exit.
	uploadStopWait = 5 * time.Second
)

// uploadLog is the output of a process. It is safe to read while the process writes it.
type uploadLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *uploadLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *uploadLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// uploadProcess is a server that a test started in its own process group.
type uploadProcess struct {
	cmd      *exec.Cmd
	output   *uploadLog
	done     chan struct{}
	stopOnce sync.Once
}

// startUploadProcess starts cmd in a new process group and stops the whole group when
// the test ends.
func startUploadProcess(t *testing.T, name string, cmd *exec.Cmd) *uploadProcess {
	t.Helper()
	p := &uploadProcess{cmd: cmd, output: &uploadLog{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Without WaitDelay, Wait would keep waiting for output from any process that
	// inherited the output pipe and outlives the one the test started.
	cmd.WaitDelay = uploadStopWait
	require.NoError(t, cmd.Start(), "cannot start %s", name)
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop sends SIGTERM to the process group, then SIGKILL if it has not exited in time. It
// may be called more than once.
func (p *uploadProcess) stop() {
	p.stopOnce.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(uploadStopWait):
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(uploadStopWait):
		}
	})
}

// running reports whether the process has not exited yet.
func (p *uploadProcess) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// uploadTools are the paths of the programs that the proxy upload tests start.
type uploadTools struct {
	sshd, sshKeygen, nginx, unshare, nsenter, mount string
}

// requireUploadTools returns the tools' paths, failing the test with the Debian package
// to install when one is missing.
func requireUploadTools(t *testing.T) uploadTools {
	t.Helper()
	// The upload script runs ssh, and the stand-in docker runs ip, so both have to be
	// installed as well.
	requireTool(t, "ssh", "openssh-client")
	requireTool(t, "ip", "iproute2")
	return uploadTools{
		sshd:      requireTool(t, "sshd", "openssh-server"),
		sshKeygen: requireTool(t, "ssh-keygen", "openssh-client"),
		nginx:     requireTool(t, "nginx", "nginx"),
		unshare:   requireTool(t, "unshare", "util-linux"),
		nsenter:   requireTool(t, "nsenter", "util-linux"),
		mount:     requireTool(t, "mount", "mount"),
	}
}

// uploadMachine is the nginx machine of a test: an SSH server on 127.0.0.1 whose
// /srv, /root, /var/log/nginx and /var/lib/nginx are folders of the test.
type uploadMachine struct {
	tools uploadTools
	// srv is the folder that the machine mounts as /srv.
	srv string
	// state is where the stand-in docker records its calls and the live nginx its files.
	state string
	// clientKey is the private key that the machine's root account accepts.
	clientKey string
	port      int
	sshd      *uploadProcess
}

// startUploadMachine creates the sandbox, its keys and the SSH server, and waits until
// the server accepts connections.
func startUploadMachine(t *testing.T) *uploadMachine {
	t.Helper()
	tools := requireUploadTools(t)
	// The mount points must exist on this computer. The nginx package creates the last two.
	for _, dir := range []string{"/srv", "/root", "/var/log/nginx", "/var/lib/nginx"} {
		require.DirExists(t, dir, "the sandbox needs %s as a mount point: apt-get install nginx", dir)
	}
	dir := t.TempDir()
	m := &uploadMachine{
		tools:     tools,
		srv:       filepath.Join(dir, "srv"),
		state:     filepath.Join(dir, "state"),
		clientKey: filepath.Join(dir, "keys", "client"),
	}
	home := filepath.Join(dir, "home")
	bin := filepath.Join(dir, "bin")
	for _, sub := range []string{
		m.srv, filepath.Join(home, ".ssh"), filepath.Join(dir, "log"), filepath.Join(dir, "lib"),
		bin, filepath.Join(dir, "keys"), filepath.Join(m.state, "calls"),
		filepath.Join(m.state, "env"), filepath.Join(m.state, "checked"), filepath.Join(m.state, "live"),
	} {
		require.NoError(t, os.MkdirAll(sub, 0o755))
	}

	standIn, err := os.ReadFile(filepath.Join("testdata", "proxy-upload", "docker"))
	require.NoError(t, err, "cannot read the stand-in docker")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "docker"), standIn, 0o755))

	hostKey := filepath.Join(dir, "keys", "host")
	uploadKeygen(t, tools.sshKeygen, hostKey)
	uploadKeygen(t, tools.sshKeygen, m.clientKey)
	public, err := os.ReadFile(m.clientKey + ".pub")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(home, ".ssh", "authorized_keys"), public, 0o600))

	// sshd stops at once when its privilege separation folder is missing. The
	// openssh-server service creates that folder, but no such service runs here.
	require.NoError(t, os.MkdirAll("/run/sshd", 0o755), "cannot create the folder sshd needs")

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "no free port on 127.0.0.1")
	m.port = listener.Addr().(*net.TCPAddr).Port
	require.NoError(t, listener.Close())

	// Only root may log in, and only with the test's key. SetEnv gives the sessions a PATH
	// that starts with the stand-in docker, and the folder where the stand-in records.
	config := filepath.Join(dir, "sshd_config")
	require.NoError(t, os.WriteFile(config, []byte(strings.Join([]string{
		fmt.Sprintf("ListenAddress 127.0.0.1:%d", m.port),
		"HostKey " + hostKey,
		"PidFile none",
		"UsePAM no",
		"PermitRootLogin prohibit-password",
		"AllowUsers root",
		"PubkeyAuthentication yes",
		"AuthorizedKeysFile .ssh/authorized_keys",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitUserEnvironment no",
		"StrictModes no",
		"AllowTcpForwarding no",
		"X11Forwarding no",
		"PrintMotd no",
		"PrintLastLog no",
		"LogLevel VERBOSE",
		fmt.Sprintf("SetEnv PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin STANDIN_DOCKER_STATE=%s STANDIN_DOCKER_NGINX=%s",
			bin, m.state, tools.nginx),
		"",
	}, "\n")), 0o600))

	// unshare makes new mount and PID namespaces. The shell binds the sandbox's folders
	// there and then becomes sshd, the first process of the PID namespace. When sshd
	// ends, the kernel ends every other process of the sandbox.
	const binds = `set -e
"$1" --bind "$2" /srv
"$1" --bind "$3" /root
"$1" --bind "$4" /var/log/nginx
"$1" --bind "$5" /var/lib/nginx
shift 5
exec "$@"`
	cmd := exec.Command(tools.unshare, "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
		"--", "/bin/sh", "-c", binds, "sandbox", tools.mount, m.srv, home,
		filepath.Join(dir, "log"), filepath.Join(dir, "lib"),
		tools.sshd, "-D", "-e", "-f", config)
	m.sshd = startUploadProcess(t, "sshd", cmd)
	m.waitForSSH(t)
	return m
}

// uploadKeygen creates an Ed25519 key pair without a passphrase at path and path.pub.
func uploadKeygen(t *testing.T, keygen, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), uploadWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, keygen, "-q", "-t", "ed25519", "-N", "", "-C", "proxy upload test",
		"-f", path).CombinedOutput()
	require.NoError(t, err, "ssh-keygen failed: %s", out)
}

// waitForSSH waits until the server sends its SSH banner.
func (m *uploadMachine) waitForSSH(t *testing.T) {
	t.Helper()
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port))
	deadline := time.Now().Add(uploadWait)
	for {
		require.True(t, m.sshd.running(), "sshd stopped before it accepted connections; its output:\n%s", m.sshd.output)
		if conn, err := net.DialTimeout("tcp", address, time.Second); err == nil {
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			banner := make([]byte, 8)
			_, err := io.ReadFull(conn, banner)
			_ = conn.Close()
			if err == nil && string(banner) == "SSH-2.0-" {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "sshd sent no SSH banner on %s within %s; its output:\n%s",
			address, uploadWait, m.sshd.output)
		time.Sleep(50 * time.Millisecond)
	}
}

// upload runs the command's create script against the machine, with the SSH settings
// pointed at it and overrides applied on top.
func (m *uploadMachine) upload(t *testing.T, r registered, overrides map[string]string) commandRun {
	t.Helper()
	env := map[string]string{
		"FARM_SSH_HOST": "127.0.0.1",
		"FARM_SSH_PORT": strconv.Itoa(m.port),
		"FARM_SSH_USER": "root",
		"FARM_SSH_KEY":  m.clientKey,
	}
	for k, v := range overrides {
		env[k] = v
	}
	// When its timeout passes, runRegisteredCommand stops the script's shell but still
	// waits for the ssh that the shell started. Stopping the server ends that ssh too.
	watchdog := time.AfterFunc(uploadTimeout+uploadStopWait, m.sshd.stop)
	defer watchdog.Stop()
	return runRegisteredCommand(t, r, "create", env, uploadTimeout)
}

// liveFile is where the machine's /srv/nginx/nginx.conf is in the sandbox.
func (m *uploadMachine) liveFile() string {
	return filepath.Join(m.srv, "nginx", "nginx.conf")
}

// readLiveFile returns the machine's live nginx.conf.
func (m *uploadMachine) readLiveFile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(m.liveFile())
	require.NoError(t, err, "the nginx machine has no live nginx.conf")
	return string(data)
}

// writeLiveFile puts a live nginx.conf on the machine, as an earlier upload would have.
func (m *uploadMachine) writeLiveFile(t *testing.T, conf string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(m.liveFile()), 0o755))
	require.NoError(t, os.WriteFile(m.liveFile(), []byte(conf), 0o644))
}

// dockerCall is one call of the stand-in docker.
type dockerCall struct {
	Args []string
	// Env is the call's environment, one NAME=VALUE a line.
	Env string
	// Checked is the file that nginx -t checked, for a docker run call.
	Checked string
}

// dockerCalls returns the stand-in's calls in the order they happened.
func (m *uploadMachine) dockerCalls(t *testing.T) []dockerCall {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(m.state, "calls"))
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var calls []dockerCall
	for _, name := range names {
		args, err := os.ReadFile(filepath.Join(m.state, "calls", name))
		require.NoError(t, err)
		env, err := os.ReadFile(filepath.Join(m.state, "env", name))
		require.NoError(t, err)
		checked, err := os.ReadFile(filepath.Join(m.state, "checked", name))
		if err != nil {
			require.ErrorIs(t, err, os.ErrNotExist)
		}
		calls = append(calls, dockerCall{
			Args:    strings.Split(strings.TrimSuffix(string(args), "\x00"), "\x00"),
			Env:     string(env),
			Checked: string(checked),
		})
	}
	return calls
}

// dockerCallsOf returns the stand-in's calls of one docker subcommand, such as run or kill.
func (m *uploadMachine) dockerCallsOf(t *testing.T, subcommand string) []dockerCall {
	t.Helper()
	var out []dockerCall
	for _, c := range m.dockerCalls(t) {
		if len(c.Args) > 0 && c.Args[0] == subcommand {
			out = append(out, c)
		}
	}
	return out
}

// nginxCheckArgs are the arguments of the docker run that checks the uploaded file.
func nginxCheckArgs(image string) []string {
	return []string{"run", "--rm", "--net", "host", "-v", "/srv/nginx:/etc/nginx/farm:ro", image,
		"nginx", "-t", "-q", "-c", "/etc/nginx/farm/nginx.conf.new"}
}

// startLiveNginx starts the real nginx inside the sandbox with the live nginx.conf, the
// way the nginx unit runs it on the machine, and logs at notice level so reloads show.
// The stand-in docker finds it through its pid file.
func (m *uploadMachine) startLiveNginx(t *testing.T) *uploadProcess {
	t.Helper()
	live := filepath.Join(m.state, "live")
	namespaces := fmt.Sprintf("/proc/%d/ns/", m.sshd.cmd.Process.Pid)
	cmd := exec.Command(m.tools.nsenter, "--mount="+namespaces+"mnt", "--pid="+namespaces+"pid_for_children",
		"--", m.tools.nginx, "-c", "/srv/nginx/nginx.conf", "-p", live+"/", "-e", filepath.Join(live, "error.log"),
		"-g", fmt.Sprintf("daemon off; pid %s; error_log %s notice;",
			filepath.Join(m.state, "live-nginx.pid"), filepath.Join(live, "error.log")))
	return startUploadProcess(t, "nginx", cmd)
}

// liveNginxLog returns the error log of the nginx that startLiveNginx started.
func (m *uploadMachine) liveNginxLog(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(m.state, "live", "error.log"))
	require.NoError(t, err, "the live nginx wrote no error log")
	return string(data)
}

// uploadCommandOfDevStack runs the program for the dev stack with mocks and returns the
// command that uploads nginx.conf, with the stack's configuration.
func uploadCommandOfDevStack(t *testing.T) (registered, *model.Config) {
	t.Helper()
	cfg := devConfig(t)
	mocks := &farmMocks{Reported: reportedShift(t, cfg)}
	require.NoError(t, runProgram(t, stackConfig(t, "dev"), mocks))
	r := mocks.byName(t, uploadCommandName)
	require.NotEmpty(t, r.Env["FARM_NGINX_CONF"], "the upload command has no nginx.conf")
	return r, cfg
}

// farmVariables returns the FARM_ variables of an environment listing.
func farmVariables(env string) []string {
	var out []string
	for _, line := range strings.Split(env, "\n") {
		if strings.HasPrefix(line, "FARM_") {
			name, _, _ := strings.Cut(line, "=")
			out = append(out, name)
		}
	}
	return out
}

func TestProxyUploadReplacesLiveFile(t *testing.T) {
	r, cfg := uploadCommandOfDevStack(t)
	m := startUploadMachine(t)
	conf := r.Env["FARM_NGINX_CONF"]

	run := m.upload(t, r, nil)
	require.NoError(t, run.Err, "the upload failed; its output:\n%s", run.Stderr)

	assert.Equal(t, conf, m.readLiveFile(t), "the live nginx.conf differs from the one the program rendered")
	assert.NoFileExists(t, m.liveFile()+".new", "the upload left its new file beside the live one")

	runs := m.dockerCallsOf(t, "run")
	require.Len(t, runs, 1, "the machine did not check the file with exactly one docker run")
	// The dev stack sets no nginx image, so this is the default image.
	assert.Equal(t, nginxCheckArgs(cfg.STF.NginxImage), runs[0].Args,
		"the check did not run nginx -t on the new file in the stack's image")
	assert.Equal(t, conf, runs[0].Checked, "nginx -t checked a file other than the upload")
	// sshd passes no variable of the client on, so image and file reached the machine on
	// standard input. A FARM_ variable here would mean that a value took another way.
	assert.Empty(t, farmVariables(runs[0].Env), "the machine received stack values in its environment")
}

func TestProxyUploadKeepsLiveFileOnFailedCheck(t *testing.T) {
	r, _ := uploadCommandOfDevStack(t)
	m := startUploadMachine(t)
	previous := r.Env["FARM_NGINX_CONF"]
	m.writeLiveFile(t, previous)

	// A shell-style brace list in an upstream server, which nginx does not expand and
	// rejects while it parses the file, before it resolves any name.
	server := regexp.MustCompile(`(?m)^    server [^;\n]+;$`)
	first := server.FindStringIndex(previous)
	require.NotNil(t, first, "the rendered nginx.conf has no upstream server line")
	broken := previous[:first[0]] + "    server 172.17.8.10{1|2|3}:3100;" + previous[first[1]:]

	run := m.upload(t, r, map[string]string{"FARM_NGINX_CONF": broken})
	require.Error(t, run.Err, "the upload of a file that fails nginx -t succeeded; its output:\n%s", run.Stderr)

	assert.Contains(t, run.Stderr, "the live configuration is unchanged", "the error does not say the live file is kept")
	assert.Equal(t, previous, m.readLiveFile(t), "the failed upload changed the live nginx.conf")
	assert.NoFileExists(t, m.liveFile()+".new", "the failed upload left the rejected file behind")
	runs := m.dockerCallsOf(t, "run")
	require.Len(t, runs, 1, "the machine did not check the file with exactly one docker run")
	assert.Equal(t, broken, runs[0].Checked, "nginx -t did not check the broken file")
	assert.Empty(t, m.dockerCallsOf(t, "kill"), "the failed upload still asked nginx to reload")
}

// listenUploadBackend starts an HTTP server on address that responds to every request
// with address, and stops it when the test ends.
func listenUploadBackend(t *testing.T, address string) error {
	t.Helper()
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	server := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, address)
		}),
		ReadHeaderTimeout: uploadStopWait,
	}
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), uploadStopWait)
		defer cancel()
		_ = server.Shutdown(ctx)
	})
	return nil
}

// uploadBackends starts two stand-ins for the STF app, on two loopback addresses at the
// app's fixed port, and returns the two addresses. The port is fixed, so when another
// program uses it on one address, the next attempt takes other addresses.
func uploadBackends(t *testing.T) (string, string) {
	t.Helper()
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		first := fmt.Sprintf("127.77.%d.1", rand.IntN(250)+1)
		second := fmt.Sprintf("127.77.%d.2", rand.IntN(250)+1)
		if err = listenUploadBackend(t, net.JoinHostPort(first, strconv.Itoa(render.PortApp))); err != nil {
			continue
		}
		if err = listenUploadBackend(t, net.JoinHostPort(second, strconv.Itoa(render.PortApp))); err != nil {
			continue
		}
		return first, second
	}
	require.FailNow(t, "cannot start the stand-ins of the STF app",
		"port %d is taken on every loopback address tried: %v", render.PortApp, err)
	return "", ""
}

// waitForResponseBody requests / from nginx at listen until the response body is want. It
// returns false and the last response or error when want does not come within uploadWait.
func waitForResponseBody(nginx *uploadProcess, listen, want string) (bool, string) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(uploadWait)
	last := ""
	for time.Now().Before(deadline) && nginx.running() {
		resp, err := client.Get("http://" + listen + "/")
		if err != nil {
			last = err.Error()
		} else {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			_ = resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
			if resp.StatusCode == http.StatusOK && string(body) == want {
				return true, last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false, last
}

func TestProxyUploadReloadsNginx(t *testing.T) {
	r, cfg := uploadCommandOfDevStack(t)
	m := startUploadMachine(t)
	plan, err := components.PlanFarm(cfg)
	require.NoError(t, err)

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "no free port on 127.0.0.1")
	listen := listener.Addr().String()
	require.NoError(t, listener.Close())

	// The dev stack's nginx.conf, listening on a free loopback port, with every machine
	// at one loopback address, so nginx reaches nothing outside this computer. The second
	// upload moves the STF app from the first stand-in's address to the second's.
	confAt := func(address string) string {
		addresses := map[string]string{}
		for _, machine := range cfg.Machines {
			addresses[machine.Name] = address
		}
		conf, err := render.NginxConf(cfg, render.ProxyValues{Listen: listen, Addresses: addresses, Placement: plan.Placement})
		require.NoError(t, err)
		return conf
	}
	firstHost, secondHost := uploadBackends(t)
	before := net.JoinHostPort(firstHost, strconv.Itoa(render.PortApp))
	after := net.JoinHostPort(secondHost, strconv.Itoa(render.PortApp))

	run := m.upload(t, r, map[string]string{"FARM_NGINX_CONF": confAt(firstHost)})
	require.NoError(t, run.Err, "the first upload failed; its output:\n%s", run.Stderr)
	nginx := m.startLiveNginx(t)
	ok, last := waitForResponseBody(nginx, listen, before)
	require.True(t, ok, "nginx with the first file never answered from %s; last answer: %s; nginx output:\n%s",
		before, last, nginx.output)

	run = m.upload(t, r, map[string]string{"FARM_NGINX_CONF": confAt(secondHost)})
	require.NoError(t, run.Err, "the second upload failed; its output:\n%s", run.Stderr)

	ok, last = waitForResponseBody(nginx, listen, after)
	assert.True(t, ok, "after the upload nginx still does not answer from %s; last answer: %s", after, last)
	assert.Contains(t, run.Stderr, "nginx reloaded the new configuration.", "the upload did not report the reload")
	assert.Contains(t, m.liveNginxLog(t), "reconfiguring", "the nginx error log shows no reload")
}

func TestProxyUploadPassesImageAsOneArgument(t *testing.T) {
	r, _ := uploadCommandOfDevStack(t)
	m := startUploadMachine(t)
	marker := filepath.Join(t.TempDir(), "executed")
	image := fmt.Sprintf("nginx:1.27; touch %[1]s && $(touch %[1]s) `touch %[1]s` | touch %[1]s", marker)

	run := m.upload(t, r, map[string]string{"FARM_NGINX_IMAGE": image})
	require.NoError(t, run.Err, "the upload failed; its output:\n%s", run.Stderr)

	assert.NoFileExists(t, marker, "a command inside the image name ran")
	runs := m.dockerCallsOf(t, "run")
	require.Len(t, runs, 1, "the machine did not check the file with exactly one docker run")
	assert.Equal(t, nginxCheckArgs(image), runs[0].Args, "the image name did not reach docker as one argument")
}
