// Package command implements a stand-in for the official "command" provider:
// the command:local:Command resource and the command:local:run function. It
// keeps the official type tokens, property names and plugin version so that
// the generated command SDK works with it unchanged.
//
// Behaviour, as in the official provider:
//   - Create runs "create". Preview runs nothing and reports stdout and
//     stderr as not yet known.
//   - A change to "triggers" replaces the resource. Any other input change is
//     an update, which runs "update", or "create" again when there is no
//     "update".
//   - Delete runs the "delete" command recorded in the state, with the
//     recorded environment, directory and interpreter.
//   - Update and delete see the previous stdout and stderr in the variables
//     PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR (when not empty),
//     unless addPreviousOutputInEnv is false.
//   - Commands run with /bin/sh -c unless "interpreter" is given, in the
//     provider's working directory unless "dir" is given, and with the
//     provider's environment plus "environment".
//   - A non-zero exit fails the step; the error names the command and
//     includes its output.
//   - Output lines are shown in the engine's progress display as they come,
//     filtered by "logging".
//   - Outputs that echo an input keep that input's secretness. Stdout and
//     stderr are not secret unless the program marks them with the
//     additionalSecretOutputs resource option.
//
// Beyond that, the engine's Cancel request and the per-operation timeouts of
// the customTimeouts resource option stop a running command together with
// every process it started.
//
// Not supported: the assetPaths and archivePaths inputs (and so the assets
// and archive outputs). Check rejects them with a clear message.
package command

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"stf-farm/tools/internal/providerkit"
)

// Version is the plugin version reported to the engine. It must equal the
// version that the command SDK in the main module requests, so the build in
// tools.mk sets it from the same variable that names the installed plugin.
var Version = "1.2.1"

const (
	// ResourceToken is the type token of the Command resource.
	ResourceToken = "command:local:Command"
	// RunToken is the token of the run function.
	RunToken = "command:local:run"

	envPreviousStdout = "PULUMI_COMMAND_STDOUT"
	envPreviousStderr = "PULUMI_COMMAND_STDERR"
)

// inputKeys lists the input properties of the Command resource. The state
// echoes them back, next to stdout and stderr.
var inputKeys = []string{
	"addPreviousOutputInEnv", "archivePaths", "assetPaths", "create", "delete", "dir",
	"environment", "interpreter", "logging", "stdin", "triggers", "update",
}

// runInputKeys lists the arguments of the run function.
var runInputKeys = []string{
	"addPreviousOutputInEnv", "archivePaths", "assetPaths", "command", "dir",
	"environment", "interpreter", "logging", "stdin",
}

var loggingValues = []string{"stdout", "stderr", "stdoutAndStderr", "none"}

// Provider serves the command package.
type Provider struct {
	providerkit.Base
}

// New returns a provider that logs through host (which may be nil).
func New(host *provider.HostClient) *Provider {
	return &Provider{Base: providerkit.NewBase(host, "command", Version, schemaJSON())}
}

// Check validates the inputs of a Command and fills in the default of
// addPreviousOutputInEnv (true), as the official provider does.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if req.GetType() != "" && req.GetType() != ResourceToken {
		return nil, fmt.Errorf("the command provider has no resource type %q", req.GetType())
	}
	news, err := providerkit.Decode(req.GetNews())
	if err != nil {
		return nil, err
	}
	failures := checkSettings(news, ResourceToken, inputKeys)
	failures.String(news, "create")
	failures.String(news, "update")
	failures.String(news, "delete")
	if v, ok := news["triggers"]; ok && !v.IsComputed() && !providerkit.Reveal(v).IsArray() {
		failures.Add("triggers", "triggers must be a list")
	}
	if _, ok := news["addPreviousOutputInEnv"]; !ok {
		news["addPreviousOutputInEnv"] = resource.NewBoolProperty(true)
	}
	inputs, err := providerkit.Encode(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

// checkSettings validates the inputs that the resource and the function share.
func checkSettings(m resource.PropertyMap, token string, known []string) providerkit.Failures {
	var failures providerkit.Failures
	failures.Unexpected(m, token, known)
	failures.String(m, "stdin")
	failures.String(m, "dir")
	failures.StringMap(m, "environment")
	failures.StringList(m, "interpreter")
	failures.Bool(m, "addPreviousOutputInEnv")
	if v, ok := m["logging"]; ok && !providerkit.IsUnknown(v) {
		v = providerkit.Reveal(v)
		if !v.IsString() || !slices.Contains(loggingValues, v.StringValue()) {
			failures.Add("logging", "logging must be one of %v", loggingValues)
		}
	}
	for _, key := range []string{"assetPaths", "archivePaths"} {
		if _, ok := m[resource.PropertyKey(key)]; ok {
			failures.Add(key, "%s is not supported by this build of the command provider; "+
				"collect the files in the program instead", key)
		}
	}
	return failures
}

// Diff reports which inputs changed. A change to triggers forces a
// replacement; every other change is an update.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := providerkit.Decode(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := providerkit.Decode(req.GetNews())
	if err != nil {
		return nil, err
	}
	replaces := func(key string) bool { return key == "triggers" }
	return providerkit.DiffInputs(olds, news, inputKeys, replaces, req.GetIgnoreChanges()), nil
}

// Create runs the create command (except during a preview).
func (p *Provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	inputs, err := providerkit.Decode(req.GetProperties())
	if err != nil {
		return nil, err
	}
	state := providerkit.Pick(inputs, inputKeys)
	if req.GetPreview() {
		markOutputsUnknown(state)
		return encodeCreate("", state)
	}

	name := req.GetName()
	if name == "" {
		name = resource.URN(req.GetUrn()).Name()
	}
	id, err := resource.NewUniqueHex(name, 8, 0)
	if err != nil {
		return nil, err
	}

	ctx, done := p.OperationContext(ctx, "create", req.GetTimeout())
	defer done()
	out, err := p.runStep(ctx, req.GetUrn(), "create", inputs, result{})
	if err != nil {
		return nil, err
	}
	setOutputs(state, out)
	return encodeCreate(id, state)
}

// Update runs the update command, or the create command when there is no
// update command, with the previous output in the environment.
func (p *Provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := providerkit.Decode(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := providerkit.Decode(req.GetNews())
	if err != nil {
		return nil, err
	}
	state := providerkit.Pick(news, inputKeys)
	if req.GetPreview() {
		markOutputsUnknown(state)
		return encodeUpdate(state)
	}

	previous := previousOutputs(olds)
	step := "update"
	if _, ok := news["update"]; !ok {
		step = "create"
	}
	ctx, done := p.OperationContext(ctx, "update", req.GetTimeout())
	defer done()
	out, err := p.runStep(ctx, req.GetUrn(), step, news, previous)
	if err != nil {
		return nil, err
	}
	setOutputs(state, out)
	return encodeUpdate(state)
}

// Delete runs the delete command recorded in the state.
func (p *Provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, err := providerkit.Decode(req.GetProperties())
	if err != nil {
		return nil, err
	}
	ctx, done := p.OperationContext(ctx, "delete", req.GetTimeout())
	defer done()
	if _, err := p.runStep(ctx, req.GetUrn(), "delete", state, previousOutputs(state)); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read returns the recorded state unchanged: a command has nothing to read
// back. Importing a command is not possible, since there is nothing to
// import from.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if len(req.GetProperties().GetFields()) == 0 {
		return nil, fmt.Errorf("%s resources cannot be imported", ResourceToken)
	}
	inputs := req.GetInputs()
	if inputs == nil {
		state, err := providerkit.Decode(req.GetProperties())
		if err != nil {
			return nil, err
		}
		if inputs, err = providerkit.Encode(providerkit.Pick(state, inputKeys)); err != nil {
			return nil, err
		}
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: inputs}, nil
}

// Invoke serves the command:local:run function, which runs its command every
// time the program runs, previews included.
func (p *Provider) Invoke(ctx context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	if req.GetTok() != RunToken {
		return nil, fmt.Errorf("the command provider has no function %q", req.GetTok())
	}
	args, err := providerkit.Decode(req.GetArgs())
	if err != nil {
		return nil, err
	}
	failures := checkSettings(args, RunToken, runInputKeys)
	if v, ok := args["command"]; !ok || !providerkit.Reveal(v).IsString() {
		failures.Add("command", "command is required and must be a string")
	}
	if len(failures) > 0 {
		return &pulumirpc.InvokeResponse{Failures: failures}, nil
	}
	if providerkit.RevealMap(args).ContainsUnknowns() {
		return nil, fmt.Errorf("%s needs every argument to be known", RunToken)
	}

	ctx, done := p.OperationContext(ctx, "run", 0)
	defer done()
	out, err := p.runStep(ctx, "", "command", args, result{})
	if err != nil {
		return nil, err
	}
	ret := providerkit.RevealMap(providerkit.Pick(args, runInputKeys))
	ret["stdout"] = resource.NewStringProperty(out.Stdout)
	ret["stderr"] = resource.NewStringProperty(out.Stderr)
	encoded, err := providerkit.Encode(ret)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: encoded}, nil
}

// runStep runs the command held in props[key] with the settings in props.
// It does nothing, and returns previous, when there is no such command.
func (p *Provider) runStep(
	ctx context.Context, urn, key string, props resource.PropertyMap, previous result,
) (result, error) {
	raw, ok := props[resource.PropertyKey(key)]
	if !ok {
		return previous, nil
	}
	plain := providerkit.RevealMap(props)
	text := plain[resource.PropertyKey(key)]
	if !text.IsString() {
		return result{}, fmt.Errorf("the %s command must be a known string", key)
	}
	display := fmt.Sprintf("command %q", text.StringValue())
	if raw.ContainsSecrets() {
		display = "command [secret]"
	}

	s := spec{
		Command: text.StringValue(),
		Display: display,
		Env:     os.Environ(),
	}
	if v := plain["interpreter"]; v.IsArray() {
		for _, item := range v.ArrayValue() {
			if item.IsString() {
				s.Interpreter = append(s.Interpreter, item.StringValue())
			}
		}
	}
	if v := plain["dir"]; v.IsString() {
		s.Dir = v.StringValue()
	} else if wd, err := os.Getwd(); err == nil {
		s.Dir = wd
	}
	if v := plain["stdin"]; v.IsString() {
		s.Stdin = v.StringValue()
	}
	if v := plain["environment"]; v.IsObject() {
		env := v.ObjectValue()
		names := make([]string, 0, len(env))
		for name := range env {
			names = append(names, string(name))
		}
		sort.Strings(names)
		for _, name := range names {
			if value := env[resource.PropertyKey(name)]; value.IsString() {
				s.Env = append(s.Env, name+"="+value.StringValue())
			}
		}
	}
	if v := plain["addPreviousOutputInEnv"]; !v.IsBool() || v.BoolValue() {
		if previous.Stdout != "" {
			s.Env = append(s.Env, envPreviousStdout+"="+previous.Stdout)
		}
		if previous.Stderr != "" {
			s.Env = append(s.Env, envPreviousStderr+"="+previous.Stderr)
		}
	}
	logging := "stdoutAndStderr"
	if v := plain["logging"]; v.IsString() {
		logging = v.StringValue()
	}
	s.LogStdout = logging == "stdout" || logging == "stdoutAndStderr"
	s.LogStderr = logging == "stderr" || logging == "stdoutAndStderr"
	s.OnLine = func(line string) { p.LogStatus(ctx, urn, line) }

	return runCommand(ctx, s)
}

// previousOutputs reads stdout and stderr from a recorded state.
func previousOutputs(state resource.PropertyMap) result {
	var r result
	if v := providerkit.Reveal(state["stdout"]); v.IsString() {
		r.Stdout = v.StringValue()
	}
	if v := providerkit.Reveal(state["stderr"]); v.IsString() {
		r.Stderr = v.StringValue()
	}
	return r
}

func setOutputs(state resource.PropertyMap, out result) {
	state["stdout"] = resource.NewStringProperty(out.Stdout)
	state["stderr"] = resource.NewStringProperty(out.Stderr)
}

func markOutputsUnknown(state resource.PropertyMap) {
	state["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
	state["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
}

func encodeCreate(id string, state resource.PropertyMap) (*pulumirpc.CreateResponse, error) {
	encoded, err := providerkit.Encode(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: encoded}, nil
}

func encodeUpdate(state resource.PropertyMap) (*pulumirpc.UpdateResponse, error) {
	encoded, err := providerkit.Encode(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: encoded}, nil
}
